"""Данные: the corpora the app offers, imports from CSV/Parquet or PostgreSQL, coverage, removal."""
import os
import tempfile
from dataclasses import replace
from pathlib import Path

import pandas as pd
import streamlit as st

from core import display
from core.corpora import database
from core.corpora.catalog import Catalog, can_manage
from core.corpora.db_guard import ENV_URL
from core.corpora.errors import CorpusError
from core.corpora.files import MAX_FILE_BYTES
from core.corpora.prepare import KINDS, OPTIONAL, guess_kind, prepare_import, remaining_columns, suggest_name
from core.corpora.records import REQUIRED
from core.models.encoders import EncoderLoadError
from core.retrieval.cache import EmbeddingCache, cache_id, corpus_coverage, embed_catalog_corpus
from pages import _cache
from pages._state import MODEL_KEY, annotator, is_admin, require_frame, settings
from pages._upload import uploader_in_russian

require_frame()
s = settings()
catalog = Catalog(s)
KIND_NAMES = display.KIND_NAMES
FLASH, UPLOADS = "data_flash", "data_uploads"
FILE_FORM, SQL_FORM = "data_file_form", "data_sql_form"   # key prefixes of the two mapping forms
NONE = "—"


def _secret(*path):
    try:
        value = st.secrets
        for part in path:
            value = value.get(part) if value is not None else None
        return value
    except Exception:   # no secrets file: nothing configured
        return None


def may_manage() -> bool:
    """Replacing or removing a corpus: the admins list (secrets `admins`) and the admin
    password, whichever is configured; with neither, anyone may."""
    return can_manage(_secret("admins"), annotator()) and is_admin()


number = display.number
plain = display.plain   # file names, column names, corpus names and texts, messages that quote them: as text


def flash(message: str) -> None:
    st.session_state[FLASH] = message
    st.rerun()


@st.cache_data(show_spinner=False, max_entries=256)
def coverage(where: tuple[str, str], name: str, version: str, model_id: str, shards: tuple[str, ...],
             _encoder) -> float:
    return corpus_coverage(catalog, name, _encoder)


def cache_state(enc) -> tuple[str, ...]:
    """Shard files of the model's embedding cache: the coverage key changes as they grow."""
    folder = EmbeddingCache(s.cache_dir, cache_id(enc)).folder
    return tuple(sorted(os.listdir(folder))) if folder.is_dir() else ()


def column_widgets(columns: list[str], prefix: str, default_name: str) -> dict:
    """Name, kind and the column mapping; returns the arguments of an import."""
    def init(key, value, valid):
        if key not in st.session_state or st.session_state[key] not in valid:
            st.session_state[key] = value

    c1, c2 = st.columns(2)
    st.session_state.setdefault(f"{prefix}_name", default_name)
    name = c1.text_input("Название корпуса", key=f"{prefix}_name",
                         help="Буквы, цифры, _ и -. Под этим именем корпус попадёт в разметку.")
    st.session_state.setdefault(f"{prefix}_kind", guess_kind(columns))
    kind = c2.selectbox("Тип", KINDS, format_func=KIND_NAMES.get, key=f"{prefix}_kind")
    st.caption("Обязательные столбцы отмечены *; необязательные можно оставить «—».")
    mapping, slots = {}, [c for c in REQUIRED[kind] if not (kind == "generic" and c == "text")]
    cols = st.columns(4)
    for i, ours in enumerate(slots + list(OPTIONAL[kind])):
        required = ours in slots
        options = columns if required else [NONE] + columns
        key = f"{prefix}_map_{ours}"
        init(key, ours if ours in columns else (None if required else NONE), options + [None])
        label = f"{display.header(ours)} `{ours}`"   # our column: its Russian name and the name in files
        theirs = cols[i % 4].selectbox(f"{label} *" if required else label, options, index=None, key=key,
                                       placeholder="выберите столбец")
        mapping[ours] = None if theirs in (None, NONE) else theirs
    text_columns = None
    if kind == "generic":
        key = f"{prefix}_text"
        if not set(st.session_state.get(key) or ()) <= set(columns) or key not in st.session_state:
            st.session_state[key] = [c for c in ("text",) if c in columns]
        text_columns = st.multiselect("Текстовые столбцы *", columns, key=key, placeholder="выберите столбцы",
                                      select_all=False, help="Склеиваются через пустую строку; пустые части пропускаются.")
    rest = remaining_columns(columns, kind, mapping, text_columns)
    key = f"{prefix}_meta"
    st.session_state[key] = [c for c in st.session_state.get(key, rest) if c in rest]
    meta = st.multiselect("Метаданные (хранятся и показываются рядом с текстом)", rest, key=key,
                          placeholder="ничего", select_all=False)
    return {"name": name.strip(), "kind": kind, "mapping": mapping, "text_columns": text_columns,
            "meta_columns": meta}


def check(frame: pd.DataFrame, source: str, args: dict) -> bool:
    """Validate the mapping (nothing is written); show the first error or a summary."""
    try:
        corpus = prepare_import(frame, args["kind"], args["name"], source, args["mapping"],
                                args["text_columns"], meta_columns=args["meta_columns"])
    except CorpusError as exc:
        st.error(plain(exc), icon=":material/error:")
        return False
    if args["name"] in catalog.builtin():
        st.error(f"«{plain(args['name'])}» — название встроенного демо-корпуса; выберите другое название.",
                 icon=":material/error:")
        return False
    sample = corpus.texts[0] if len(corpus.texts[0]) <= 300 else corpus.texts[0][:300] + " …"
    st.success(f"Готово к импорту: {display.count(len(corpus), 'запись', 'записи', 'записей')}. "
               f"Текст первой записи: «{plain(sample)}»")
    if args["name"] in catalog.imported():
        st.warning(f"Корпус «{plain(args['name'])}» уже есть — импорт заменит его целиком (старая версия "
                   "останется, если импорт не удастся).", icon=":material/sync:")
        if not may_manage():
            st.info("Заменять корпуса могут только администраторы.", icon=":material/lock:")
            return False
    return True


def read_upload(upload) -> pd.DataFrame:
    """The uploaded file as a table, read once per upload; messages name the user's file."""
    if st.session_state.get("data_file_id") != upload.file_id:
        for key in [k for k in st.session_state if str(k).startswith(FILE_FORM)]:
            del st.session_state[key]   # a new file: forget the old mapping
        if upload.size > MAX_FILE_BYTES:
            raise CorpusError(f"{upload.name}: {upload.size / 2**20:.0f} МБ — больше предела "
                              f"{MAX_FILE_BYTES / 2**20:.0f} МБ (его задаёт VECSCOPE_MAX_FILE_MB).")
        suffix = Path(upload.name).suffix.lower() or ".csv"
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"upload{suffix}"
            path.write_bytes(upload.getvalue())
            st.session_state["data_frame"] = catalog.read(path, source=upload.name)
        st.session_state["data_file_id"] = upload.file_id
    return st.session_state["data_frame"]


st.title("Данные")
if msg := st.session_state.pop(FLASH, None):
    st.success(msg, icon=":material/check:")

# -- the catalog -------------------------------------------------------------------------
try:
    enc = _cache.current_encoder(s, st.session_state[MODEL_KEY])
except EncoderLoadError as exc:
    enc = None
    st.warning(f"Покрытие не посчитать: модель не загрузилась ({plain(exc)}).")
infos = catalog.list()
shards = cache_state(enc) if enc is not None else ()
table, coverage_of = [], {}
for info in infos:
    cov = None
    if enc is not None and not info.problem:
        try:
            cov = coverage((str(catalog.root), str(s.cache_dir)), info.name, info.version, enc.id, shards,
                           _encoder=enc)
        except (CorpusError, ValueError) as exc:
            info = replace(info, problem=str(exc))
    table.append({"корпус": info.name, "тип": KIND_NAMES.get(info.kind, info.kind), "записей": info.rows,
                  "источник": "демо" if info.builtin else info.source, "покрытие": cov,
                  "импортирован": display.moment(info.created) if info.created else ""})
    coverage_of[info.name] = cov
    if info.problem:
        st.error(f"«{plain(info.name)}»: {plain(info.problem)}")
st.dataframe(pd.DataFrame(table).style.format({"записей": number}), hide_index=True, width="stretch", column_config={
    "покрытие": st.column_config.ProgressColumn(
        f"эмбеддинги ({st.session_state[MODEL_KEY]})", format="percent", min_value=0.0, max_value=1.0,
        help="Доля записей, чьи эмбеддинги уже в кэше для модели из боковой панели.")})

pg_url = _secret("postgres", "url") or os.environ.get(ENV_URL)
for info in infos:
    if info.builtin or info.problem:
        continue
    with st.container(border=True, key=f"data_corpus_{info.name}"):
        st.markdown(f"**{plain(info.name)}** · {plain(KIND_NAMES.get(info.kind, info.kind))} · "
                    f"{display.count(info.rows, 'запись', 'записи', 'записей')} · {plain(info.source)}")
        done = (coverage_of.get(info.name) or 0) >= 1
        with st.container(horizontal=True):   # buttons as wide as their labels, never cut off
            embed = enc is not None and st.button(
                "Посчитать эмбеддинги", key=f"data_embed_{info.name}", icon=":material/memory:",
                disabled=done or hasattr(enc, "vectors_for"),
                help=f"Все эмбеддинги уже в кэше для {plain(st.session_state[MODEL_KEY])}." if done else
                     "Посчитать недостающие эмбеддинги для модели из боковой панели (только новые тексты).")
            refresh = info.meta.get("sql") and st.button(
                "Обновить из БД", key=f"data_refresh_{info.name}", icon=":material/sync:",
                disabled=not (pg_url and may_manage()))
            remove = st.button("Удалить", key=f"data_remove_{info.name}", icon=":material/delete:",
                               disabled=not may_manage(),
                               help=None if may_manage() else "Удалять корпуса могут только администраторы.")
        if embed:
            bar = st.progress(0.0, text="Считаем эмбеддинги…")
            embed_catalog_corpus(catalog, info.name, enc, progress=lambda d, t: bar.progress(
                d / max(t, 1), text=f"Считаем эмбеддинги «{plain(info.name)}»: {d} из {t}"))
            flash(f"Эмбеддинги «{plain(info.name)}» посчитаны и сохранены в кэш.")
        if refresh:
            try:
                new = database.refresh(info.name, catalog, url=pg_url)
            except (CorpusError, database.DatabaseError) as exc:
                st.error(plain(exc))
            else:
                flash(f"«{plain(info.name)}» обновлён из базы: {display.count(new.rows, 'запись', 'записи', 'записей')}. Эмбеддинги посчитаются "
                      "только для новых и изменённых.")
        if remove:
            catalog.remove(info.name)
            flash(f"Корпус «{plain(info.name)}» удалён. Оценки в разметке сохранены.")

# -- import a file -------------------------------------------------------------------------
def file_section() -> None:
    st.subheader("Импорт файла")
    limit_mb = min(int(st.get_option("server.maxUploadSize")), MAX_FILE_BYTES // 2**20)
    # a new key after each import empties the uploader
    uploader_in_russian(limit_mb)
    upload = st.file_uploader("CSV (UTF-8) или Parquet", type=["csv", "parquet"],
                              key=f"data_upload_{st.session_state.setdefault(UPLOADS, 0)}",
                              help=f"Не больше {limit_mb} МБ.")
    st.caption(f"Файлы до {limit_mb} МБ. Больше — командой `python -m core import file …` на сервере.")
    if upload is None:
        return
    try:
        frame = read_upload(upload)
    except CorpusError as exc:
        st.error(plain(exc), icon=":material/error:")
        return
    st.caption(f"{plain(upload.name)}: {display.count(len(frame), 'строка', 'строки', 'строк')}, столбцы "
               f"{plain(', '.join(map(str, frame.columns)), one_line=True)}. Первые 20:")
    st.dataframe(frame.head(20), hide_index=True)
    name = suggest_name(upload.name)
    args = column_widgets(list(frame.columns), FILE_FORM,
                          f"{name}-импорт" if name in catalog.builtin() else name)   # posts.csv: not the demo name
    ok = check(frame, upload.name, args)
    if st.button("Импортировать", type="primary", key="data_file_import", disabled=not ok,
                 icon=":material/upload:"):
        try:
            info = catalog.import_table(frame, source=upload.name, **args)
        except CorpusError as exc:
            st.error(plain(exc))
        else:
            st.session_state[UPLOADS] += 1
            flash(f"Корпус «{plain(info.name)}» импортирован: {display.count(info.rows, 'запись', 'записи', 'записей')}.")


file_section()

# -- import from PostgreSQL --------------------------------------------------------------------
st.subheader("Импорт из PostgreSQL")
if not pg_url:
    st.info("Подключение не настроено. Укажите `url` в разделе `[postgres]` файла `.streamlit/secrets.toml` "
            "или переменную окружения `VECSCOPE_PG_URL` (postgresql://user:password@host:5432/db).")
    st.stop()
st.caption(f"База: `{database.redact(pg_url)}` · запрос выполняется только на чтение, один SELECT.")
sql = st.text_area("SQL", key="data_sql", height=140,
                   placeholder="SELECT p.channel_id || '_' || p.id AS id, p.channel_id, p.raw_text\n"
                               "FROM parse.posts_content p")
if st.button("Выполнить", key="data_sql_run", icon=":material/play_arrow:", disabled=not sql.strip()):
    try:
        st.session_state["data_sql_result"] = (sql, database.fetch_frame(pg_url, sql))
    except database.DatabaseError as exc:
        st.session_state.pop("data_sql_result", None)
        st.error(plain(exc), icon=":material/error:")
result = st.session_state.get("data_sql_result")
if result is None or result[0] != sql:
    st.stop()
frame = result[1]
st.caption(f"Запрос вернул {display.count(len(frame), 'строку', 'строки', 'строк')}. Первые 20:")
st.dataframe(frame.head(20), hide_index=True)
args = column_widgets(list(frame.columns), SQL_FORM, "db-corpus")
ok = check(frame, "PostgreSQL", args)
if st.button("Импортировать из БД", type="primary", key="data_sql_import", disabled=not ok,
             icon=":material/download:"):
    try:
        info = database.import_query(catalog, pg_url, sql, frame=frame, **args)
    except (CorpusError, database.DatabaseError) as exc:
        st.error(plain(exc))
    else:
        st.session_state.pop("data_sql_result", None)
        flash(f"Корпус «{plain(info.name)}» импортирован из базы: {display.count(info.rows, 'запись', 'записи', 'записей')}.")
