"""Items without a skill of their own are assigned to their true skill by data, counted once,
and decided again when their candidate skills change."""

from __future__ import annotations


def test_an_item_without_skill_is_assigned_to_its_true_skill(two_runs):
    rows = dict(
        (i, (s, m, c))
        for i, s, m, c in two_runs["con"]
        .execute(
            "select item_id, skill_id, method, confidence from irt.item_skill_assignments "
            "where item_id like 'mixed_%'"
        )
        .fetchall()
    )
    assert rows["mixed_a"][:2] == ("alpha", "data")
    assert rows["mixed_b"][:2] == ("beta", "data")
    assert rows["mixed_a"][2] > 0.9 and rows["mixed_b"][2] > 0.9


def test_an_assigned_item_is_calibrated_on_each_of_its_responses_once(two_runs):
    """Its responses are settled once assigned: read as candidates too, they counted twice."""
    con = two_runs["con"]
    counts = {}
    for item, skill in (("mixed_a", "alpha"), ("mixed_b", "beta")):
        calibrated = con.execute(
            "select n_responses from irt.item_parameters where item_id = ? and skill_id = ?",
            [item, skill],
        ).fetchone()[0]
        landed = con.execute(
            "select count(*) from intermediate.int_irt_responses "
            "where item_id = ? and skill_id = ?",
            [item, skill],
        ).fetchone()[0]
        counts[item] = (calibrated, landed)
    # alpha was refitted in run 2, on all of mixed_a's responses; beta was not (nothing new),
    # so mixed_b keeps the count of run 1, a few responses fewer than now.
    assert counts["mixed_a"][0] == counts["mixed_a"][1] > 0
    assert 0.9 * counts["mixed_b"][1] <= counts["mixed_b"][0] <= counts["mixed_b"][1]


def test_an_item_whose_candidate_skills_change_is_decided_again(changed_history):
    con = changed_history["con"]
    rows = dict(
        (item, (skill, method, candidates))
        for item, skill, method, candidates in con.execute(
            "select item_id, skill_id, method, candidate_skills from irt.item_skill_assignments "
            "where item_id in ('alpha_05', 'beta_07')"
        ).fetchall()
    )
    assert rows["alpha_05"] == ("alpha", "data", "alpha,beta")
    assert rows["beta_07"] == ("alpha", "only_course_skill", "alpha")
    parameters = con.execute(
        "select skill_id, item_id from irt.item_parameters "
        "where item_id in ('alpha_05', 'beta_07') order by all"
    ).fetchall()
    assert parameters == [("alpha", "alpha_05"), ("alpha", "beta_07")]
