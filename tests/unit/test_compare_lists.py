from core.evaluation.compare import blind_pool, judged_share, rank_moves


def test_rank_moves_mark_up_down_same_and_new():
    assert rank_moves(["a", "b", "c"], ["c", "b", "x"]) == {"c": "↑2", "b": "=", "x": "new"}
    assert rank_moves(["a", "b"], ["b", "a"])["a"] == "↓1"


def test_blind_pool_is_the_union_in_a_stable_hidden_order():
    a, b = ["d1", "d2", "d3"], ["d3", "d4", "d1"]
    pool = blind_pool(a, b, "кот уронил вазу")
    assert sorted(pool) == ["d1", "d2", "d3", "d4"]
    assert pool == blind_pool(a, b, "кот уронил вазу")
    orders = {tuple(blind_pool(a, b, f"запрос {i}")) for i in range(20)}
    assert len(orders) > 5     # not simply a's order followed by b's


def test_judged_share():
    assert judged_share(["a", "b", "c", "d"], {"a": 2, "c": -1}) == 0.5
    assert judged_share([], {}) == 0.0
