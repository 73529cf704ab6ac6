"""Channels page through app.py with AppTest."""
from core.labels.store import LabelStore
from tests.app.test_pages import set_annotator, start


def neighbour_lines(at):
    return [m.value for m in at.markdown if m.value.startswith("**#")]


def test_channel_neighbours_exclude_itself_and_can_be_graded(app_env):
    at = start("pages/channels.py")
    at.selectbox(key="channels_pick").set_value("c001").run()
    lines = neighbour_lines(at)
    assert len(lines) == 10 and all("Сигнал \\| Новости**" not in line for line in lines)
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


def test_scores_are_percentiles_and_the_vector_choice_changes_the_list(app_env):
    at = start("pages/channels.py")
    at.selectbox(key="channels_pick").set_value("c013").run()          # «Python без боли 🐍»
    default = neighbour_lines(at)
    assert at.segmented_control(key="channels_repr").value == "mix"
    assert at.selectbox(key="channels_pp").value == "centre"
    # "**#1** · `97,4 %` (0,282) · …": a percentile among channel pairs first, the cosine after
    first = default[0].split("`")
    assert first[1].endswith("%") and 90 <= float(first[1].rstrip(" %\xa0").replace(",", ".")) <= 100
    assert any("процентиль среди всех пар каналов" in c.value for c in at.caption)
    at.segmented_control(key="channels_repr").set_value("text").run()
    at.selectbox(key="channels_pp").set_value("none").run()
    raw = neighbour_lines(at)
    assert raw != default and not at.exception
    tech = lambda lines: sum("· Технологии ·" in line for line in lines)
    assert tech(default) > tech(raw)           # more programming/tech channels with the default


def test_quality_table_compares_every_representation_and_post_processing(app_env):
    at = start("pages/channels.py")
    at.toggle(key="channels_quality").set_value(True).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    spaces = list(table["вектор канала · постобработка"])
    assert len(spaces) == 3 * 5 + 2 and sum(x.startswith("★ ") for x in spaces) == 1
    assert "похожие · точность@5" in table and "размещение рекламы · HitRate@5" in table
    assert any("по совпадению тематики" in c.value for c in at.caption)   # the proxy is named as such
    default = table[[x.startswith("★ ") for x in spaces]].iloc[0]
    assert float(default["похожие · точность@5"].split(" ")[0].replace(",", ".")) >= 0.6


def test_a_corpus_post_is_placed_with_its_channel_built_without_it(app_env):
    at = start("pages/channels.py")
    at.segmented_control(key="channels_mode").set_value("post").run()
    at.selectbox(key="channels_post").set_value("p0002").run()
    assert any("считается без него" in c.value for c in at.caption)
    assert any("пост — канал" in c.value for c in at.caption)
    assert len(neighbour_lines(at)) == 10 and not at.exception


def test_the_map_shows_the_channel_vectors_chosen_on_the_channels_page(app_env):
    at = start("pages/channels.py")
    at.segmented_control(key="channels_repr").set_value("posts").run()
    at.selectbox(key="channels_pp").set_value("abtt1").run()
    at.switch_page("pages/map.py").run()
    assert not at.exception, at.exception
    assert at.segmented_control(key="map_repr").value == "posts"
    assert at.selectbox(key="map_pp").value == "abtt1"
