from core.maps.plots import selected_positions


def test_selection_customdata_as_sent_by_the_browser():
    """Streamlit returns a typed-array customdata row as {"0": value}, not a list."""
    event = {"selection": {"points": [{"customdata": {"0": 110}}, {"customdata": [7]}, {"customdata": {"0": 110}},
                                      {"x": 1.0}]}}
    assert selected_positions(event) == [110, 7]
