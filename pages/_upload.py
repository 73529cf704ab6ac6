"""The file uploader in Russian: shared by every page that takes a file (not a page)."""
import streamlit as st


def uploader_in_russian(limit_mb: int) -> None:
    """Streamlit's file uploader writes "Upload", "200MB per file • CSV, PARQUET" and a chosen
    file's size as "93.0B", with no option for other texts: draw ours over the first two and hide
    the size (CSS only; 14 px is the size Streamlit uses)."""
    st.html(f"""<style>
[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"] p {{ font-size: 0; }}
[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"] p::after {{
  content: "Выбрать файл"; font-size: 0.875rem; }}
[data-testid="stFileUploaderDropzoneInstructions"] span {{ font-size: 0; }}
[data-testid="stFileUploaderDropzoneInstructions"] span::after {{
  content: "или перетащите его сюда · CSV или Parquet до {limit_mb} МБ"; font-size: 0.875rem; }}
[data-testid="stFileChip"] [data-testid="stFileChipName"] + div {{ display: none; }}
</style>""")
