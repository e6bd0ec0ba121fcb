"""Location reading from the words around a mention."""

import pytest

from chestx_reasoner.reports.location import find_location


@pytest.mark.parametrize(
    ("window", "side", "zone", "lobe"),
    [
        ("small left pleural effusion", "left", None, None),
        ("right-sided pleural effusion", "right", None, None),
        ("opacity in the right lower lobe", "right", None, "right lower lobe"),
        ("RUL consolidation", "right", None, "right upper lobe"),
        ("lingular atelectasis", "left", None, "lingula"),
        ("bibasilar atelectasis", "bilateral", "base", None),
        ("bilateral pleural effusions", "bilateral", None, None),
        ("left and right effusions", "bilateral", None, None),
        ("retrocardiac opacity", None, "retrocardiac", None),
        ("left apical pneumothorax", "left", "apex", None),
        ("right perihilar opacity", "right", "perihilar", None),
        ("left lung base opacity", "left", "base", None),
        ("opacity in the left upper lung zone", "left", "upper", None),
        ("right midlung opacity", "right", "middle", None),
    ],
)
def test_find_location(window, side, zone, lobe):
    location = find_location(window)
    assert location is not None
    assert (location.side, location.zone, location.lobe) == (side, zone, lobe)


def test_no_location_words_gives_none():
    assert find_location("pleural effusion") is None


def test_location_text():
    assert find_location("left lower lobe opacity").text == "left lower lobe"
    assert find_location("bibasilar opacities").text == "bilateral base"
