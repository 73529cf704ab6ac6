"""Channel representations (text / posts / mix), the space they are compared in, readable
scores, and neighbours of a held-out post."""
import numpy as np
import pandas as pd
import pytest

from core.corpora.records import make_corpus
from core.retrieval.channels import SpaceSpec, build_space, combine, neighbours, post_sums, post_weights
from core.retrieval.score_scale import PairScale


def unit(*xs):
    v = np.asarray(xs, np.float32)
    return v / np.linalg.norm(v)


def small_corpora():
    """Three channels; a and b have posts, c has none (and no about text)."""
    channels = make_corpus(pd.DataFrame({"id": ["a", "b", "c"], "title": ["Альфа", "Бета", "Гамма"],
                                         "about": ["про альфу", "про бету", ""]}), "channels", "ch", "t")
    posts = make_corpus(pd.DataFrame({
        "id": ["p1", "p2", "p3", "p4", "p5"],
        "channel_id": ["a", "a", "b", "b", "zz"],          # zz: a channel that is not in the file
        "raw_text": ["один", "два", "три", "реклама", "пять"],
        "published_at": ["2024-01-01", "2024-01-31", "2024-01-10", "2024-01-10", "2024-01-01"],
        "is_ad": ["0", "0", "0", "1", "0"]}), "posts", "po", "t")
    text = np.stack([unit(1, 0, 0, 0), unit(0, 1, 0, 0), unit(0, 0, 1, 0)])
    post = np.stack([unit(0, 0, 0, 1), unit(0, 1, 0, 1), unit(1, 0, 0, 0), unit(0, 0, 1, 0), unit(1, 1, 1, 1)])
    return channels, posts, text, post


def test_post_weights_leave_ads_out_and_halve_per_half_life():
    _, posts, _, _ = small_corpora()
    w = post_weights(posts.frame)
    assert w.tolist() == [1, 1, 1, 0, 1]
    w = post_weights(posts.frame, half_life_days=30, skip_ads=False)
    # p1 is 30 days older than a's newest post p2: half the weight; b's posts are its newest
    np.testing.assert_allclose(w, [0.5, 1, 1, 1, 1])
    undated = posts.frame.assign(published_at=["", "2024-01-31", "x", "2024-01-10", ""])
    assert post_weights(undated, half_life_days=30).tolist() == [1, 1, 1, 0, 1]   # no date: as the newest


def test_channel_vectors_mean_of_posts_with_text_fallback():
    channels, posts, text, post = small_corpora()
    sums = post_sums(channels.frame["id"], posts.frame, post, post_weights(posts.frame))
    assert sums.count.tolist() == [2, 1, 0] and sums.post_channel.tolist() == [0, 0, 1, 1, -1]
    mean = combine(text, sums.sums, sums.weight, "posts")
    expected_a = post[0] + post[1]
    np.testing.assert_allclose(mean[0], expected_a / np.linalg.norm(expected_a), atol=1e-6)
    np.testing.assert_allclose(mean[1], post[2], atol=1e-6)        # the ad p4 is left out
    np.testing.assert_allclose(mean[2], text[2], atol=1e-6)        # no posts: its text
    mix = combine(text, sums.sums, sums.weight, "mix", text_weight=0.5)
    expected = 0.5 * text[1] + 0.5 * post[2]
    np.testing.assert_allclose(mix[1], expected / np.linalg.norm(expected), atol=1e-6)
    np.testing.assert_allclose(combine(text, sums.sums, sums.weight, "text"), text, atol=1e-6)


def test_space_applies_one_transform_to_channels_and_placed_posts(tmp_path):
    channels, posts, text, post = small_corpora()
    space = build_space(SpaceSpec("posts", "centre"), "m", channels, text, posts, post, tmp_path)
    # the mean is fitted on channel texts and posts, equally weighted
    np.testing.assert_allclose(space.transform.mean, (text.mean(0) + post.mean(0)) / 2, atol=1e-6)
    raw = combine(text, space.sums.sums, space.sums.weight, "posts")
    np.testing.assert_allclose(space.vectors, space.transform.apply(raw), atol=1e-6)
    np.testing.assert_allclose(space.place(post[0]), space.transform.apply(post[:1])[0], atol=1e-6)
    assert list((tmp_path / "postprocess").glob("centre-*.npz"))          # stored with its key
    with pytest.raises(ValueError):
        space.vectors[0, 0] = 1.0                                          # shared: read-only


def test_space_key_changes_with_everything_that_changes_the_vectors():
    channels, posts, text, post = small_corpora()
    key = lambda spec, p=posts: build_space(spec, "m", channels, text, p, post).key
    base = key(SpaceSpec("mix", "centre"))
    assert base == key(SpaceSpec("mix", "centre"))
    others = {key(SpaceSpec("text", "centre")), key(SpaceSpec("mix", "abtt1")),
              key(SpaceSpec("mix", "centre", text_weight=0.5)), key(SpaceSpec("mix", "centre", half_life_days=30)),
              build_space(SpaceSpec("mix", "centre"), "other-model", channels, text, posts, post).key}
    assert base not in others and len(others) == 5


def test_held_out_post_rebuilds_its_channel_without_it():
    channels, posts, text, post = small_corpora()
    space = build_space(SpaceSpec("posts", "none"), "m", channels, text, posts, post)
    own = space.without_post([0, 2, 3, 4])
    np.testing.assert_allclose(own[0], post[1], atol=1e-6)    # a without p1 = p2
    np.testing.assert_allclose(own[1], text[1], atol=1e-6)    # b without its only counted post: its text
    np.testing.assert_allclose(own[2], space.vectors[1], atol=1e-6)   # the ad never counted
    assert not own[3].any()                                   # a post of an unknown channel
    text_space = build_space(SpaceSpec("text", "none"), "m", channels, text, posts, post)
    np.testing.assert_allclose(text_space.without_post([0])[0], text_space.vectors[0], atol=1e-6)


def test_neighbours_of_a_corpus_post_do_not_see_the_post_itself():
    channels, posts, text, post = small_corpora()
    space = build_space(SpaceSpec("posts", "none"), "m", channels, text, posts, post)
    q = space.place(post[2])                   # b's only counted post
    plain = neighbours(space, q, 3)
    assert plain["id"].iloc[0] == "b" and plain["score"].iloc[0] == pytest.approx(1.0, abs=1e-4)
    held = neighbours(space, q, 3, held_out_post=2)
    b = held.set_index("id").loc["b"]
    assert b["score"] == pytest.approx(float(q @ text[1]), abs=1e-4)   # b by its text, without p3
    assert held["rank"].tolist() == [1, 2, 3] and held["score"].is_monotonic_decreasing
    assert held["percentile"].between(0, 1).all()
    assert len(neighbours(space, q, 3, filters={"id": ["a", "c"]}, held_out_post=2)) == 2


def test_percentile_among_pairs_checked_by_hand():
    # three unit vectors in the plane at 0°, 90°, 180°: pair cosines 0, -1, 0
    x = np.array([[1, 0], [0, 1], [-1, 0]], np.float32)
    scale = PairScale.among(x)
    assert scale.sorted_scores.tolist() == [-1, 0, 0]
    np.testing.assert_allclose(scale.percentile([-2, -1, 0, 0.5]), [0, 1 / 6, 4 / 6, 1])
    assert np.isnan(PairScale.among(x[:1]).percentile(0.3)).all()
    sampled = PairScale.among(np.random.default_rng(0).normal(size=(1000, 4)).astype(np.float32), max_pairs=5000)
    assert len(sampled) == 5000
    between = PairScale.between(x, x[:1])
    assert between.sorted_scores.tolist() == [-1, 0, 1]


def test_map_placement_and_the_neighbour_list_agree_in_one_space():
    """The Map page gets the space's index (pages/_maps.py): a text placed on the map lands
    next to the same channels the Channels page lists for it."""
    from core.maps.projection import pca_preview, place
    rng = np.random.default_rng(1)
    n, d = 40, 8
    frame = pd.DataFrame({"id": [f"c{i}" for i in range(n)], "title": [f"Канал {i}" for i in range(n)]})
    channels = make_corpus(frame, "channels", "ch", "t")
    text = rng.normal(size=(n, d)).astype(np.float32) + 4.0
    space = build_space(SpaceSpec("text", "abtt1"), "m", channels, text / np.linalg.norm(text, axis=1, keepdims=True))
    q = space.place(rng.normal(size=d).astype(np.float32) + 4.0)
    _, on_map = place(pca_preview(space.index.vectors), space.index.index, q, k=10)
    assert list(space.channels.frame["id"].iloc[on_map[0]]) == list(neighbours(space, q, 10)["id"])


def test_corpus_text_inside_markdown_shows_as_written():
    """The Channels page puts titles, categories and about texts inside st.markdown through
    display.md_text: markup characters reach Markdown escaped, on one line."""
    from core.display import md_text
    out = md_text("**Жирный** [ссылка](http://x) :red[цвет] $x$ <b>\nвторая строка")
    for escaped in (r"\*\*Жирный\*\*", r"\[ссылка\]", r"\:red\[цвет\]", r"\$x\$", r"\<b\>"):
        assert escaped in out
    assert "\n" not in out and out.endswith("вторая строка")
    assert md_text("Сигнал | Новости") == r"Сигнал \| Новости"
