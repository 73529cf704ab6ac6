"""Streamlit side of the LLM judge (core.labels.llm): the [llm_judge] section of the secrets, the
choice of hint source in the blind view, and the judge's run behind a spinner that says what it
does. Without the section none of this shows."""
from __future__ import annotations

import streamlit as st

from core import display
from core.corpora.records import Corpus
from core.labels.llm.config import JudgeConfig, JudgeConfigError, secrets_section
from core.labels.llm.judge import Judgements, calibration_line, plan
from core.labels.needs import NeedStore, needs_path

ERROR_KEY = "compare_llm_error"    # a failed run's message: no new requests until the user asks again


def configured() -> JudgeConfig | None:
    """The judge of [llm_judge], or None; a section that cannot work is a warning and None."""
    try:
        return JudgeConfig.from_section(secrets_section(st.secrets))
    except JudgeConfigError as exc:
        st.warning(display.plain(str(exc)), icon=":material/smart_toy:")
        return None


def chosen() -> JudgeConfig | None:
    """With a judge configured: the hint source (the model on the team's labels first), and the
    judge when it is chosen. Without one nothing is shown and the answer is None."""
    judge = configured()
    if judge is None:
        return None
    names = {"model": "Модель на ваших оценках", "llm": f"LLM-судья ({display.plain(judge.model, one_line=True)})"}
    pick = st.radio("Источник подсказок", list(names), format_func=names.get, horizontal=True,
                    key="compare_hint_source",
                    help="LLM-судья получает запрос, описание потребности и текст документа. Его сверяют с "
                         "вашими оценками так же, как модель; подсказка не записывается как оценка.")
    return judge if pick == "llm" else None


@st.cache_resource(max_entries=4)
def _position(name: str, content_hash: str, _corpus: Corpus) -> dict[str, int]:
    return {d: i for i, d in enumerate(_corpus.frame["id"])}


def _retry() -> None:
    st.session_state.pop(ERROR_KEY, None)


def judgements(s, corpus: Corpus, judge: JudgeConfig, qrels: dict,
               wanted: list[tuple[str, str]]) -> Judgements:
    """The judge's hints for ``wanted`` and its calibration line; the questions not on disk yet are
    asked behind a spinner. An endpoint error is a warning, and is not retried at every rerun
    (a hung server would hold every click for timeout_s): a button asks again."""
    needs = NeedStore(needs_path(s.labels_path)).latest(corpus.name)
    questions = plan(judge, qrels, wanted, _position(corpus.name, corpus.content_hash, corpus), corpus.texts,
                     needs, s.cache_dir)
    held = st.session_state.get(ERROR_KEY)
    if held or not questions.todo:
        result = questions.run(ask_new=False)
    else:
        check = questions.todo_calibration
        with st.spinner(f"Спрашиваем LLM-судью: {display.count(len(questions.todo), 'документ', 'документа', 'документов')}"
                        + (f" (из них {display.number(check)} — для сверки с вашими оценками)" if check else "")
                        + "…"):
            result = questions.run()
        if result.error:
            st.session_state[ERROR_KEY] = result.error
    st.caption(display.plain(calibration_line(result)))
    error = held or result.error
    if error:
        st.warning(display.plain(error) + "  \nПодсказки LLM — только уже полученные; страница работает как обычно.",
                   icon=":material/cloud_off:")
        st.button("Спросить LLM-судью снова", on_click=_retry, key="compare_llm_retry", icon=":material/refresh:")
    elif result.pending:
        st.caption(f"Ещё {display.count(result.pending, 'вопрос', 'вопроса', 'вопросов')} LLM-судье не задано: "
                   f"за один раз — не больше {display.number(judge.max_items)} (`max_items` в `[llm_judge]`).")
        st.button("Спросить ещё", key="compare_llm_more", icon=":material/playlist_add:")
    return result
