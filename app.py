"""vecscope: the frame. Page config, shared sidebar, navigation; pages do the rest."""
import streamlit as st

from pages._state import APP_MARKER, access_granted, gate, sidebar

# an emoji favicon is drawn in the browser; a ":material/…:" one is fetched from fonts.gstatic.com
st.set_page_config(page_title="vecscope", page_icon="🔭", layout="wide")
pages = [
    st.Page("pages/search.py", title="Поиск", icon=":material/search:", default=True),
    st.Page("pages/channels.py", title="Каналы", icon=":material/hub:"),
    st.Page("pages/map.py", title="Карта", icon=":material/scatter_plot:"),
    st.Page("pages/data.py", title="Данные", icon=":material/database:"),
    st.Page("pages/compare.py", title="Сравнение моделей", icon=":material/compare_arrows:"),
    st.Page("pages/labels.py", title="Разметка", icon=":material/fact_check:"),
    st.Page("pages/pairs.py", title="Пары", icon=":material/join_inner:"),
    st.Page("pages/outcomes.py", title="Отклик", icon=":material/trending_up:"),
    st.Page("pages/recommend.py", title="Рекомендации", icon=":material/recommend:"),
]
if not access_granted():
    # The login form (or the access error) and nothing else, under every page's address: a deep
    # link (/labels) is not "Page not found" over the form, and opens once the password is in.
    st.navigation([st.Page(gate, title=p.title, url_path=p.url_path or "search", default=p._default)
                   for p in pages], position="hidden").run()
    st.stop()
gate()                                # keeps the login token in the URL
st.session_state[APP_MARKER] = True   # pages redirect here when opened before the frame ran

sidebar()
pg = st.navigation(pages)
pg.run()
