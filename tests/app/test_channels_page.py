"""Channels page through app.py with AppTest."""
from core.labels import LabelStore
from tests.app.test_pages import set_annotator, start


def neighbour_lines(at):
    return [m.value for m in at.markdown if m.value.startswith("**#")]


def test_channel_neighbours_exclude_itself_and_can_be_graded(app_env):
    at = start("pages/channels.py")
    at.selectbox(key="channels_pick").set_value("c001").run()
    lines = neighbour_lines(at)
    assert len(lines) == 10 and all("Сигнал | Новости**" not in line for line in lines)
    assert any("Сравнение с текстом" in m.value for m in at.markdown)
    set_annotator(at, "anna")
    at.button(key="g2_ch0").click().run()
    row = LabelStore(app_env / "labels.csv").read().frame.iloc[0]
    assert (row["corpus"], row["query"], row["grade"]) == ("channels", "[c001] Сигнал | Новости", 2)


def test_subscriber_range_and_category_filter_neighbours(app_env):
    at = start("pages/channels.py")
    at.selectbox(key="channels_pick").set_value("c001").run()
    at.multiselect(key="channels_categories").set_value(["Спорт"]).run()
    at.select_slider(key="channels_subs").set_value((0, 50_000)).run()
    lines = neighbour_lines(at)
    assert lines and all("· Спорт ·" in line for line in lines)
    subs = [int(line.split("·")[-1].split("подписчик")[0].replace("\xa0", "").strip()) for line in lines]
    assert max(subs) <= 50_000


def test_title_only_text_changes_the_neighbour_list(app_env):
    at = start("pages/channels.py")
    at.selectbox(key="channels_pick").set_value("c005").run()
    full = neighbour_lines(at)
    at.segmented_control(key="channels_parts").set_value("title").run()
    assert neighbour_lines(at) != full
    assert not at.exception


def test_ad_post_from_the_corpus_finds_channels(app_env):
    at = start("pages/channels.py")
    at.segmented_control(key="channels_mode").set_value("post").run()
    assert at.selectbox(key="channels_post").value.startswith("p")
    options = at.selectbox(key="channels_post").options
    assert all("\n" not in o for o in options)          # one line per post, its line breaks are spaces
    assert any("на этой неделе? " in o for o in options) and not any("неделе?На" in o for o in options)
    assert len(neighbour_lines(at)) == 10


def test_pasted_ad_text_finds_channels_and_empty_text_gives_a_hint(app_env):
    at = start("pages/channels.py")
    at.segmented_control(key="channels_mode").set_value("post").run()
    at.radio(key="channels_post_source").set_value("paste").run()
    assert any("Вставьте текст" in i.value for i in at.info)
    at.text_area(key="channels_ad_text").input("Онлайн-школа программирования: курс Python с нуля, скидка 30%").run()
    lines = neighbour_lines(at)
    assert len(lines) == 10
