"""The search space: parameters validate themselves and name the field that is wrong."""

from __future__ import annotations

import pytest

from pipetune.errors import SpaceError, SpecError
from pipetune.tuner.space import (
    CategoricalParameter,
    DiscreteParameter,
    DoubleParameter,
    ExpressionSpace,
    IntParameter,
    SearchSpace,
)


def katib(name, kind, **feasible):
    return {"name": name, "parameterType": kind, "feasibleSpace": feasible}


def test_min_above_max_quotes_both_values():
    with pytest.raises(SpaceError) as error:
        DoubleParameter("lr", 0.1, 0.01)
    assert str(error.value) == "parameter 'lr': min 0.1 is above max 0.01"


def test_space_error_is_a_spec_error():
    assert issubclass(SpaceError, SpecError)


def test_unknown_parameter_type_lists_the_known_ones():
    with pytest.raises(SpaceError, match=r"parameterType: expected one of double, int, discrete, "
                       r"categorical, got 'float'"):
        SearchSpace.from_katib([katib("lr", "float", min="0", max="1")])


def test_unknown_distribution_lists_the_known_ones():
    with pytest.raises(SpaceError, match=r"unknown distribution 'gaussian'; expected one of "
                       r"uniform, logUniform, normal, logNormal"):
        DoubleParameter("lr", 0.0, 1.0, distribution="gaussian")


@pytest.mark.parametrize("distribution", ["logUniform", "logNormal"])
def test_log_distribution_needs_a_positive_min(distribution):
    with pytest.raises(SpaceError, match=rf"parameter 'lr': distribution {distribution} needs "
                       "min above 0, got 0"):
        DoubleParameter("lr", 0.0, 1.0, distribution=distribution)


def test_empty_list_is_refused():
    with pytest.raises(SpaceError, match="the list of values is empty"):
        CategoricalParameter("optimizer", ())
    with pytest.raises(SpaceError, match=r"feasibleSpace.list: expected a non-empty list"):
        SearchSpace.from_katib([katib("optimizer", "categorical", list=[])])


def test_a_space_with_nothing_to_search_is_refused():
    with pytest.raises(SpaceError, match="no parameters; nothing to search"):
        SearchSpace(())
    with pytest.raises(SpaceError, match="nothing to search"):
        SearchSpace((DoubleParameter("lr", 0.1, 0.1), CategoricalParameter("opt", ("sgd",))))


def test_a_name_declared_twice_is_refused():
    with pytest.raises(SpaceError, match="parameter 'lr' is declared twice"):
        SearchSpace((DoubleParameter("lr", 0, 1), DoubleParameter("lr", 0, 2)))


def test_int_parameter_refuses_fractional_bounds():
    with pytest.raises(SpaceError, match="min of an int parameter must be an integer, got 1.5"):
        IntParameter("layers", 1.5, 4)


def test_katib_strings_are_parsed_to_typed_parameters():
    space = SearchSpace.from_katib(
        [
            katib("lr", "double", min="0.001", max="0.1", distribution="logUniform"),
            katib("layers", "int", min="1", max="8", step="1"),
            katib("dropout", "discrete", list=["0.1", "0.25", "1"]),
            katib("optimizer", "categorical", list=["sgd", "adam"]),
        ]
    )
    lr, layers, dropout, optimizer = space.parameters
    assert lr == DoubleParameter("lr", 0.001, 0.1, None, "logUniform")
    assert layers == IntParameter("layers", 1, 8, 1)
    assert isinstance(layers.min, int) and isinstance(layers.step, int)
    assert dropout == DiscreteParameter("dropout", (0.1, 0.25, 1))
    assert optimizer.values == ("sgd", "adam")
    assert space.names == ["lr", "layers", "dropout", "optimizer"]


def test_katib_errors_name_the_parameter_and_field():
    with pytest.raises(SpaceError, match=r"parameters\[0\] \(lr\).feasibleSpace.max: expected a "
                       "number, got 'high'"):
        SearchSpace.from_katib([katib("lr", "double", min="0", max="high")])
    with pytest.raises(SpaceError, match=r"parameters\[0\] \(lr\).feasibleSpace: min 1 is above "
                       "max 0"):
        SearchSpace.from_katib([katib("lr", "double", min="1", max="0")])


def test_validate_checks_names_and_feasible_values():
    space = SearchSpace((IntParameter("n", 1, 4), CategoricalParameter("opt", ("sgd", "adam"))))
    space.validate({"n": 3, "opt": "adam"})
    with pytest.raises(SpaceError, match="'n': 3.0 is outside its feasible space"):
        space.validate({"n": 3.0, "opt": "adam"})
    with pytest.raises(SpaceError, match="do not match the parameters"):
        space.validate({"n": 3})


def test_grid_of_double_is_floats_from_min_by_step():
    assert DoubleParameter("x", 0, 1, 0.25).grid() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert all(type(v) is float for v in DoubleParameter("x", 0, 2, 1).grid())
    assert IntParameter("n", 2, 9, 3).grid() == [2, 5, 8]
    with pytest.raises(SpaceError, match="parameter 'x': grid search needs feasibleSpace.step"):
        DoubleParameter("x", 0, 1).grid()


def test_expression_space_holds_an_expression_and_checks_assignments():
    hp = pytest.importorskip("hyperopt").hp
    space = ExpressionSpace({"lr": hp.loguniform("lr", -5, 0), "opt": hp.choice("opt", ["a", "b"])})
    assert space.names == ["lr", "opt"]
    space.validate({"lr": 0.1, "opt": "a"})
    with pytest.raises(SpaceError, match=r"assignment lacks \['opt'\]"):
        space.validate({"lr": 0.1})
    with pytest.raises(SpaceError, match="must evaluate to a mapping"):
        space.validate(0.1)  # type: ignore[arg-type]
    with pytest.raises(SpaceError, match="nothing to search"):
        ExpressionSpace({})


def test_expression_space_digest_is_stable_and_tells_spaces_apart():
    hp = pytest.importorskip("hyperopt").hp

    def build(high):
        return ExpressionSpace({"lr": hp.uniform("lr", 0, high), "opt": hp.choice("opt", ["a"])})

    assert build(1).digest() == build(1).digest()
    assert build(1).digest() != build(2).digest()
