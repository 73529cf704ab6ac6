"""vecscope: the frame. Page config, shared sidebar, navigation; pages do the rest."""
import streamlit as st

from pages._state import APP_MARKER, gate, sidebar

# an emoji favicon is drawn in the browser; a ":material/…:" one is fetched from fonts.gstatic.com
st.set_page_config(page_title="vecscope", page_icon="🔭", layout="wide")
if not gate():
    # no page and no navigation until the password is entered
    st.navigation([st.Page(lambda: None, title="Вход", url_path="login")], position="hidden")
    st.stop()
st.session_state[APP_MARKER] = True   # pages redirect here when opened before the frame ran

pages = [
    st.Page("pages/search.py", title="Поиск", icon=":material/search:", default=True),
    st.Page("pages/channels.py", title="Каналы", icon=":material/hub:"),
    st.Page("pages/map.py", title="Карта", icon=":material/scatter_plot:"),
    st.Page("pages/data.py", title="Данные", icon=":material/database:"),
    st.Page("pages/compare.py", title="Сравнение моделей", icon=":material/compare_arrows:"),
    st.Page("pages/labels.py", title="Разметка", icon=":material/fact_check:"),
]
sidebar()
pg = st.navigation(pages)
pg.run()
