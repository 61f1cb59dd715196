from stripe_analytics.created_ranges import newest_first, split_off_older


def test_a_range_splits_off_its_older_half_below_what_was_read():
    range_ = {"gte": 1000, "lt": 2000, "after": "ch_9", "done": False}
    # 100 objects read from 1900 down to 1500: 100 / 401 s; 500 s left hold ~125 objects
    older = split_off_older(range_, lower=0, newest=1900, reached=1500, read=100, min_objects=100)
    assert older == {"gte": 1000, "lt": 1250, "after": None, "done": False}
    assert range_ == {"gte": 1250, "lt": 2000, "after": "ch_9", "done": False}


def test_the_first_range_keeps_taking_anything_older():
    range_ = {"gte": None, "lt": 2000, "after": None, "done": False}
    older = split_off_older(range_, lower=1000, newest=1999, reached=1801, read=400, min_objects=100)
    assert older == {"gte": None, "lt": 1401, "after": None, "done": False}
    assert range_["gte"] == 1401


def test_a_range_too_small_to_be_worth_a_request_is_not_split():
    range_ = {"gte": 1000, "lt": 2000, "after": "ch_9", "done": False}
    # 10 objects in 400 s: the 500 s left hold ~12, fewer than the 100 asked for
    assert split_off_older(range_, lower=0, newest=1900, reached=1500, read=10, min_objects=100) is None
    assert split_off_older(range_, lower=0, newest=1900, reached=1001, read=1000, min_objects=1) is None
    assert range_["gte"] == 1000


def test_unfinished_ranges_newest_first_across_resources():
    cursors = {
        "customers": {"upper": 3000, "slices": [{"gte": None, "lt": 2000, "done": False},
                                                 {"gte": 2000, "lt": 3000, "done": True},
                                                 {"gte": 1000, "lt": 1500, "done": False}]},
        "charges": {"upper": 3000, "slices": [{"gte": None, "lt": 1000, "done": False},
                                               {"gte": 1000, "lt": 3000, "done": False}]},
        "products": {"upper": 3000, "slices": [{"gte": None, "lt": None, "done": False}]},
    }
    assert newest_first(cursors) == [("charges", 1), ("products", 0), ("customers", 0), ("customers", 2),
                                     ("charges", 0)]
