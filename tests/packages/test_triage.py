from __future__ import annotations

import pytest

from hub.errors import InvalidInput
from hub.packages.triage import (
    NO_RISK_FACTORS,
    TRIAGE_RULES,
    InformationGap,
    Rag,
    TriageInput,
    TriageRule,
    triage_package,
)
from hub.people.vocabulary import MedicationSupport

G = InformationGap
M = MedicationSupport


def gaps(*items: InformationGap) -> frozenset[InformationGap]:
    return frozenset(items)


def test_a_package_with_no_risk_factors_is_green_and_says_why() -> None:
    result = triage_package(TriageInput())
    assert result.rating is Rag.GREEN
    assert result.reasons == (NO_RISK_FACTORS,)
    assert result.deciding_reasons == (NO_RISK_FACTORS,)
    assert not result.held_out_of_rota_conversion


@pytest.mark.parametrize("support", [M.NONE, M.PROMPT])
def test_medication_prompting_alone_stays_green(support: MedicationSupport) -> None:
    result = triage_package(TriageInput(medication_support=support, lives_alone=True))
    assert result.rating is Rag.GREEN
    assert result.codes == ("NO_RISK_FACTORS",)


def test_a_clean_transfer_from_the_incumbent_can_be_green() -> None:
    result = triage_package(TriageInput(transferred_from_incumbent=True))
    assert result.rating is Rag.GREEN


# Each single risk factor, and the exact reasons it produces.
@pytest.mark.parametrize(
    ("facts", "codes"),
    [
        (TriageInput(time_critical_visits_per_week=7), ("TIME_CRITICAL_VISITS",)),
        (TriageInput(medication_support=M.ASSIST), ("MEDICATION_ASSIST_OR_ADMINISTER",)),
        (TriageInput(medication_support=M.ADMINISTER), ("MEDICATION_ASSIST_OR_ADMINISTER",)),
        (TriageInput(falls_risk=True), ("FALLS_RISK",)),
        (TriageInput(falls_risk=True, lives_alone=True), ("FALLS_RISK", "FALLS_RISK_LIVING_ALONE")),
        (TriageInput(safeguarding_history=True), ("SAFEGUARDING_HISTORY",)),
        (TriageInput(double_handed_visits_per_week=14), ("DOUBLE_HANDED",)),
        (TriageInput(information_gaps=gaps(G.EMERGENCY_CONTACTS)), ("INFORMATION_GAPS",)),
        (TriageInput(information_gaps=gaps(G.RISK_ASSESSMENT)), ("INFORMATION_GAPS",)),
        (TriageInput(information_gaps=gaps(G.ACCESS_DETAILS)), ("INFORMATION_GAPS",)),
    ],
)
def test_a_single_known_risk_is_amber(facts: TriageInput, codes: tuple[str, ...]) -> None:
    result = triage_package(facts)
    assert result.rating is Rag.AMBER
    assert result.codes == codes
    assert all(reason.rating is Rag.AMBER for reason in result.reasons)
    assert not result.held_out_of_rota_conversion


# Each red rule with the smallest input that fires it; the amber rules it also fires follow.
@pytest.mark.parametrize(
    ("facts", "red", "amber"),
    [
        (
            TriageInput(time_critical_visits_per_week=14, medication_support=M.ADMINISTER),
            "TIME_CRITICAL_MEDICATION_ADMINISTRATION",
            ("TIME_CRITICAL_VISITS", "MEDICATION_ASSIST_OR_ADMINISTER"),
        ),
        (
            TriageInput(medication_support=M.ASSIST, information_gaps=gaps(G.MEDICATION_RECORD)),
            "MEDICATION_WITHOUT_RECORD",
            ("MEDICATION_ASSIST_OR_ADMINISTER", "INFORMATION_GAPS"),
        ),
        (
            TriageInput(time_critical_visits_per_week=7, information_gaps=gaps(G.VISIT_TIMES)),
            "TIME_CRITICAL_TIMES_UNCONFIRMED",
            ("TIME_CRITICAL_VISITS", "INFORMATION_GAPS"),
        ),
        (
            TriageInput(falls_risk=True, information_gaps=gaps(G.RISK_ASSESSMENT)),
            "FALLS_RISK_UNASSESSED",
            ("FALLS_RISK", "INFORMATION_GAPS"),
        ),
        (
            TriageInput(
                double_handed_visits_per_week=7,
                information_gaps=gaps(G.MOVING_AND_HANDLING_PLAN),
            ),
            "DOUBLE_HANDED_WITHOUT_HANDLING_PLAN",
            ("DOUBLE_HANDED", "INFORMATION_GAPS"),
        ),
        (
            TriageInput(lives_alone=True, information_gaps=gaps(G.ACCESS_DETAILS)),
            "LIVES_ALONE_WITHOUT_ACCESS_DETAILS",
            ("INFORMATION_GAPS",),
        ),
        (
            TriageInput(safeguarding_history=True, information_gaps=gaps(G.EMERGENCY_CONTACTS)),
            "SAFEGUARDING_WITH_INFORMATION_GAPS",
            ("SAFEGUARDING_HISTORY", "INFORMATION_GAPS"),
        ),
        (
            TriageInput(transferred_from_incumbent=True, information_gaps=gaps(G.ESCALATION_PLAN)),
            "TRANSFER_WITH_INFORMATION_GAPS",
            ("INFORMATION_GAPS",),
        ),
    ],
)
def test_each_red_rule_holds_the_package_out_of_rota_conversion(
    facts: TriageInput, red: str, amber: tuple[str, ...]
) -> None:
    result = triage_package(facts)
    assert result.rating is Rag.RED
    assert result.held_out_of_rota_conversion
    assert result.codes == (red, *amber)
    assert [reason.code for reason in result.deciding_reasons] == [red]


@pytest.mark.parametrize(
    "facts",
    [
        # Time-critical, but medication is only assisted: amber.
        TriageInput(time_critical_visits_per_week=7, medication_support=M.ASSIST),
        # Administered but nothing time-critical: amber.
        TriageInput(medication_support=M.ADMINISTER),
        # The MAR is missing but carers only prompt: the gap is amber.
        TriageInput(medication_support=M.PROMPT, information_gaps=gaps(G.MEDICATION_RECORD)),
        # Visit times missing without time-critical calls: amber.
        TriageInput(information_gaps=gaps(G.VISIT_TIMES)),
        # Falls risk with an assessment but no handling plan: amber.
        TriageInput(falls_risk=True, information_gaps=gaps(G.MOVING_AND_HANDLING_PLAN)),
        # Access details missing for someone who does not live alone: amber.
        TriageInput(lives_alone=False, information_gaps=gaps(G.ACCESS_DETAILS)),
    ],
)
def test_near_misses_of_the_red_rules_stay_amber(facts: TriageInput) -> None:
    assert triage_package(facts).rating is Rag.AMBER


def test_reasons_carry_sentences_for_the_triage_log() -> None:
    result = triage_package(
        TriageInput(
            time_critical_visits_per_week=1,
            medication_support=M.ADMINISTER,
            information_gaps=gaps(G.MEDICATION_RECORD),
        )
    )
    sentences = {reason.code: reason.sentence for reason in result.reasons}
    assert sentences["TIME_CRITICAL_MEDICATION_ADMINISTRATION"] == (
        "carers administer medication and 1 visit a week is time-critical: a late call is a "
        "late dose"
    )
    assert sentences["MEDICATION_WITHOUT_RECORD"] == (
        "carers administer medication but the medication administration record (MAR) is missing"
    )
    assert sentences["INFORMATION_GAPS"] == (
        "key information is missing: medication administration record (MAR)"
    )


def test_gaps_are_listed_in_a_stable_order_whatever_order_they_were_given() -> None:
    result = triage_package(
        TriageInput(
            safeguarding_history=True,
            information_gaps=gaps(G.ESCALATION_PLAN, G.ACCESS_DETAILS, G.RISK_ASSESSMENT),
        )
    )
    sentence = next(
        r.sentence for r in result.reasons if r.code == "SAFEGUARDING_WITH_INFORMATION_GAPS"
    )
    assert sentence == (
        "there is a safeguarding history and key information is missing: risk assessment, "
        "access details (address, key safe), escalation preferences and DNAR status"
    )


def test_the_seed_example_transfer_with_falls_and_time_critical_medication() -> None:
    """Seed 001, example 1: a transferred package, recent falls, insulin at time-critical calls."""
    result = triage_package(
        TriageInput(
            time_critical_visits_per_week=14,
            medication_support=M.ADMINISTER,
            falls_risk=True,
            safeguarding_history=False,
            double_handed_visits_per_week=0,
            lives_alone=True,
            information_gaps=gaps(G.RISK_ASSESSMENT),
            transferred_from_incumbent=True,
        )
    )
    assert result.rating is Rag.RED
    assert result.held_out_of_rota_conversion
    assert result.codes == (
        "TIME_CRITICAL_MEDICATION_ADMINISTRATION",
        "FALLS_RISK_UNASSESSED",
        "TRANSFER_WITH_INFORMATION_GAPS",
        "TIME_CRITICAL_VISITS",
        "MEDICATION_ASSIST_OR_ADMINISTER",
        "FALLS_RISK",
        "FALLS_RISK_LIVING_ALONE",
        "INFORMATION_GAPS",
    )
    assert [r.code for r in result.deciding_reasons] == [
        "TIME_CRITICAL_MEDICATION_ADMINISTRATION",
        "FALLS_RISK_UNASSESSED",
        "TRANSFER_WITH_INFORMATION_GAPS",
    ]


def test_assisting_and_administering_read_differently() -> None:
    assist = triage_package(TriageInput(medication_support=M.ASSIST)).reasons[0].sentence
    administer = triage_package(TriageInput(medication_support=M.ADMINISTER)).reasons[0].sentence
    assert assist == (
        "carers assist with medication: only carers with medication competence evidenced or "
        "revalidated may be assigned"
    )
    assert administer.startswith("carers administer medication: ")


def test_plural_and_singular_visit_counts_read_correctly() -> None:
    one = triage_package(TriageInput(double_handed_visits_per_week=1)).reasons[0].sentence
    many = triage_package(TriageInput(double_handed_visits_per_week=2)).reasons[0].sentence
    assert one.startswith("1 visit a week is double-handed")
    assert many.startswith("2 visits a week are double-handed")


@pytest.mark.parametrize(
    ("field", "facts"),
    [
        ("timeCriticalVisitsPerWeek", {"time_critical_visits_per_week": -1}),
        ("doubleHandedVisitsPerWeek", {"double_handed_visits_per_week": -3}),
    ],
)
def test_negative_counts_are_refused_with_the_field(field: str, facts: dict[str, int]) -> None:
    with pytest.raises(InvalidInput) as refused:
        TriageInput(**facts)  # type: ignore[arg-type]
    assert refused.value.field == field
    assert refused.value.code == "NEGATIVE_COUNT"


def test_the_table_lists_red_rules_before_amber_and_codes_are_unique() -> None:
    ratings = [rule.rating for rule in TRIAGE_RULES]
    assert ratings == sorted(ratings, key=[Rag.RED, Rag.AMBER].index)
    codes = [rule.code for rule in TRIAGE_RULES]
    assert len(codes) == len(set(codes))


def test_every_rule_in_the_table_is_reachable() -> None:
    everything = TriageInput(
        time_critical_visits_per_week=7,
        medication_support=M.ADMINISTER,
        falls_risk=True,
        safeguarding_history=True,
        double_handed_visits_per_week=7,
        lives_alone=True,
        information_gaps=frozenset(InformationGap),
        transferred_from_incumbent=True,
    )
    assert triage_package(everything).codes == tuple(rule.code for rule in TRIAGE_RULES)


def test_a_contract_may_supply_its_own_rule_table() -> None:
    lone_working = TriageRule(
        "LONE_WORKING_RISK",
        Rag.AMBER,
        lambda p: p.lives_alone,
        lambda p: "carers visit a person living alone",
    )
    result = triage_package(TriageInput(lives_alone=True), rules=(lone_working,))
    assert result.rating is Rag.AMBER
    assert result.codes == ("LONE_WORKING_RISK",)
