"""core.maps.clusters: KMeans labels and c-TF-IDF names that read as topics, not function words."""
import numpy as np
import pytest

from core.corpora.records import load_demo
from core.maps import clusters as C
from tests.conftest import DEMO

# Three topics written the way posts are: inflected words, function words everywhere, links,
# @mentions, hashtags, numbers. Each text mixes 3 topic phrases and 2 filler phrases.
TOPICS = {
    "crypto": ["Курс биткоина снова вырос", "биржи фиксируют рост биткоина", "криптовалюты дорожают",
               "токены на бирже подешевели", "аналитики ждут нового рекорда курса", "майнеры продают биткоины",
               "#крипта новости криптовалют", "курс эфира обновил максимум"],
    "cooking": ["Рецепт пирога с яблоками", "замесите тесто из муки и сахара", "поставьте в духовку на 40 минут",
                "тесто должно подняться", "добавьте сахар и муку", "пирог с корицей по рецепту бабушки",
                "#рецепты простой ужин", "разогрейте духовку до 180 градусов"],
    "football": ["Матч закончился вничью", "команда забила гол на последней минуте", "тренер сменил состав",
                 "футболисты вышли в финал", "гол в добавленное время", "болельщики поддержали команду",
                 "#футбол итоги тура", "матч перенесли из-за погоды"],
}
FILLER = ["и это было очень неожиданно", "который уже все видели", "весь этот день мы ждали",
          "подробнее по ссылке https://example.ru/news/123", "пишите @news_bot если есть вопросы",
          "но они не могли бы так", "вот что об этом говорят", "в 2024 году и не только"]
FUNCTION_WORDS = {"и", "в", "не", "это", "который", "весь", "этот", "на", "что", "мы", "они", "так", "вот",
                  "уже", "очень", "быть", "мочь", "год", "если", "из", "по", "до", "the", "and"}


def topic_texts(per_topic=20, seed=0):
    rng = np.random.default_rng(seed)
    texts, truth = [], []
    for t, phrases in enumerate(TOPICS.values()):
        for _ in range(per_topic):
            parts = list(rng.choice(phrases, 3, replace=False)) + list(rng.choice(FILLER, 2, replace=False))
            rng.shuffle(parts)
            texts.append(". ".join(parts) + ".")
            truth.append(t)
    return texts, np.array(truth)


def test_number_of_clusters_follows_the_rule():
    assert [C.n_clusters_for(n) for n in (0, 3, 10, 120, 400, 22_000)] == [0, 3, 4, 8, 14, 20]


def test_kmeans_finds_blobs_and_numbers_them_by_size():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 24)) * 3
    sizes = [30, 50, 20]
    truth = np.repeat([0, 1, 2], sizes)
    x = (centres[truth] + rng.normal(size=(100, 24))).astype(np.float32)
    labels = C.cluster(x, n_clusters=3)
    assert labels.dtype == np.int64 and labels.shape == (100,)
    # same partition as the truth, with 0 = the largest blob (50), 1 = 30, 2 = 20
    assert np.array_equal(labels, np.select([truth == 1, truth == 0], [0, 1], 2))
    assert np.array_equal(labels, C.cluster(x, n_clusters=3))          # deterministic
    assert len(np.unique(C.cluster(x))) == C.n_clusters_for(100)        # the rule when not given


def test_tiny_and_two_dimensional_inputs():
    assert C.cluster(np.zeros((0, 5))).shape == (0,)
    assert C.cluster(np.ones((2, 5))).tolist() == [0, 0]
    coords = np.array([[0, 0], [0, 1], [10, 10], [10, 11]], np.float32)
    labels = C.cluster(coords, n_clusters=2)
    assert labels[0] == labels[1] != labels[2] == labels[3]


def test_tokens_drop_links_mentions_numbers_and_short_words():
    text = "Смотрите #Крипта и @news_bot: https://t.me/x/1 курс 60000 ёлки ИИ в США, ИНН 7701"
    assert C.tokens(text) == ["смотрите", "крипта", "курс", "елки", "США", "ИНН"]
    assert C.lemma("ИНН") == "" and C.lemma("США") == "сша"      # abbreviations are not "lemmatised"
    assert C.lemma("биржи") == "биржа" and C.lemma("который") == "" and C.lemma("весь") == ""


def test_names_of_three_topics_are_topic_words():
    texts, truth = topic_texts()
    names = C.cluster_names(texts, truth)
    expected = {0: {"курс", "биткоин", "биржа", "криптовалюта", "токен", "крипта", "майнер", "эфир", "рекорд"},
                1: {"рецепт", "тесто", "духовка", "мука", "сахар", "пирог", "корица", "рецепты"},
                2: {"матч", "гол", "команда", "тренер", "футбол", "футболист", "финал", "болельщик"}}
    for label, name in names.items():
        words = name.split(C.SEPARATOR)
        assert len(words) == 3, name
        # by stem: the shown form of a word pymorphy3 does not know may be a guess (биткоина)
        assert {C.stem(w) for w in words} <= {C.stem(w) for w in expected[label]}, name
        assert not set(words) & FUNCTION_WORDS and not any(ch.isdigit() for ch in name), name
        assert "@" not in name and "#" not in name and "http" not in name


def test_names_on_demo_channels_by_category():
    corpus = load_demo(DEMO, "channels")
    categories = sorted(set(corpus.frame["category"]))
    labels = corpus.frame["category"].map(categories.index).to_numpy()
    names = C.cluster_names(corpus.texts, labels)
    assert len(names) == len(categories)
    food = names[categories.index("Еда и рецепты")].split(C.SEPARATOR)
    assert set(food) & {"рецепт", "еда", "блюдо", "кухня", "ужин", "готовить", "ресторан"}, food
    for name in names.values():
        words = name.split(C.SEPARATOR)
        assert len(words) == 3 and all(len(w) >= 3 for w in words), name
        assert not set(words) & (FUNCTION_WORDS | C.STOP_WORDS), name
    assert len(set(names.values())) == len(names)


def test_degenerate_names():
    names = C.cluster_names(["и в на", "кот спит на диване", "кот спит"], [0, 1, 1])
    assert names[0] == "кластер 0" and "кот" in names[1]
    assert C.cluster_names(["шум шум"], [-1]) == {-1: "без кластера"}
    with pytest.raises(ValueError):
        C.cluster_names(["a"], [0, 1])


def test_boilerplate_shared_by_every_cluster_never_names_one():
    """Channel about-texts end in the same contact line; it is frequent in every cluster, so plain
    c-TF-IDF ranked it first. It must not name any cluster."""
    texts, truth = topic_texts()
    texts = [f"{t} По вопросам рекламы и сотрудничества пишите менеджеру" for t in texts]
    names = C.cluster_names(texts, truth)
    words = {w for name in names.values() for w in name.split(C.SEPARATOR)}
    assert not words & {"реклама", "вопрос", "сотрудничество", "писать", "менеджер"}, names
