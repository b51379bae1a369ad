"""The three-level MDM: building from three files or one, validation errors, save/load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import openhlm
from openhlm.data.mdm3 import MDM3, build_mdm3
from openhlm.errors import DataWarning, MDMError

from .conftest import simulate


def _three(d: pd.DataFrame):
    l1 = d[["child", "t", "y"]]
    l2 = d[["child", "school", "x2"]].drop_duplicates()
    l3 = d[["school", "w"]].drop_duplicates()
    return l1, l2, l3


def test_three_files_equal_one_file():
    d = simulate()
    one = build_mdm3(d, id=("child", "school"), level1_variables=["t", "y"],
                     level2_variables=["x2"], level3_variables=["w"])
    three = build_mdm3(*_three(d), id=("child", "school"))
    assert one.n_level1 == three.n_level1 == len(d)
    assert one.n_level3 == three.n_level3 == 12
    assert one.level3_variables == ("w",) and three.level2_variables == ("x2",)
    assert np.array_equal(one.unit_ids, three.unit_ids)
    assert np.array_equal(one.level3_index, three.level3_index)
    assert np.allclose(one.level1.to_numpy(), three.level1.to_numpy())
    assert np.allclose(one.level3.to_numpy(), three.level3.to_numpy())
    # level-2 units grouped by level-3 unit, rows by level-2 unit
    assert np.all(np.diff(one.level3_index) >= 0)
    assert np.all(np.diff(one.unit_index) >= 0)
    # every row sits in its own school
    school_of_row = one.level3_ids[one.row_level3_index].astype(int)
    child_of_row = one.unit_ids[one.unit_index]
    truth = d.set_index("child")["school"].groupby(level=0).first()
    assert np.array_equal(school_of_row, truth.loc[child_of_row].to_numpy())


def test_inferred_levels_in_one_file(egsingle):
    m = build_mdm3(egsingle, id=("childid", "schoolid"))
    assert set(m.level3_variables) == {"size", "lowinc", "mobility"}
    assert {"female", "black", "hispanic"} <= set(m.level2_variables)
    assert (m.n_level1, m.n_level2, m.n_level3) == (7230, 1721, 60)
    assert m.level_of("LOWINC") == 3 and m.level_of("year") == 1 and m.level_of("black") == 2


def test_build_mdm_routes_on_tuple_id_and_level3():
    d = simulate()
    assert isinstance(openhlm.build_mdm(d, id=("child", "school")), MDM3)
    assert isinstance(openhlm.build_mdm(*_three(d), id=("child", "school")), MDM3)
    assert isinstance(openhlm.build_mdm(d, id="child"), openhlm.MDM)


def test_save_load_roundtrip(tmp_path):
    m = build_mdm3(*_three(simulate()), id=("child", "school"))
    m.save(tmp_path / "x.mdmz")
    back = MDM3.load(tmp_path / "x.mdmz")
    assert back.equals(m)
    with pytest.raises(MDMError, match="not a three-level"):
        openhlm.datasets.hsb().save(tmp_path / "two.mdmz") or MDM3.load(tmp_path / "two.mdmz")


def test_level2_unit_in_two_level3_units_one_file():
    d = simulate()
    d.loc[0, "school"] = 999
    with pytest.raises(MDMError, match="more than one level-3 unit"):
        build_mdm3(d, id=("child", "school"))


def test_level2_unit_in_two_level3_units_level2_file():
    l1, l2, l3 = _three(simulate())
    extra = l2.iloc[[0]].assign(school=l3.school.iloc[1])
    with pytest.raises(MDMError, match="more than one level-3 unit"):
        build_mdm3(l1, pd.concat([l2, extra]), l3, id=("child", "school"))


def test_unlinked_level3_id():
    l1, l2, l3 = _three(simulate())
    with pytest.raises(MDMError, match="no record in the level-3 data"):
        build_mdm3(l1, l2, l3.iloc[1:], id=("child", "school"))


def test_unlinked_level2_id():
    l1, l2, l3 = _three(simulate())
    with pytest.raises(MDMError, match="no record"):
        build_mdm3(l1, l2.iloc[1:], l3, id=("child", "school"))


def test_level3_variable_varying_within_unit():
    d = simulate()
    d.loc[0, "w"] = 123.0
    with pytest.raises(MDMError, match="level-3 variable 'w' is not constant"):
        build_mdm3(d, id=("child", "school"), level3_variables=["w"])


def test_duplicated_level3_ids_and_missing_values():
    l1, l2, l3 = _three(simulate())
    with pytest.raises(MDMError, match="more than one record"):
        build_mdm3(l1, l2, pd.concat([l3, l3.iloc[[0]]]), id=("child", "school"))
    bad = l3.copy()
    bad.loc[bad.index[0], "w"] = np.nan
    with pytest.raises(MDMError, match="missing level-3 values"):
        build_mdm3(l1, l2, bad, id=("child", "school"))


def test_level3_unit_without_level2_units_is_dropped():
    l1, l2, l3 = _three(simulate())
    l3 = pd.concat([l3, pd.DataFrame({"school": [1], "w": [0.0]})])
    with pytest.warns(DataWarning, match="no level-2 units"):
        m = build_mdm3(l1, l2, l3, id=("child", "school"))
    assert m.dropped_level3_units == ("1",) and m.n_level3 == 12


def test_bad_id_argument_and_half_files():
    l1, l2, l3 = _three(simulate())
    with pytest.raises(MDMError, match="needs two IDs, the level-2 then the level-3 ID"):
        build_mdm3(l1, l2, l3, id="child")
    with pytest.raises(MDMError, match="both the level-2 and the level-3"):
        build_mdm3(l1, l2, None, id=("child", "school"))


def test_names_clash_across_levels():
    l1, l2, l3 = _three(simulate())
    with pytest.raises(MDMError, match="clash"):
        build_mdm3(l1, l2, l3.rename(columns={"w": "X2"}), id=("child", "school"))


def test_subset_complete_drops_empty_units():
    d = simulate()
    d.loc[d.child == "c1", "y"] = np.nan
    m = build_mdm3(d, id=("child", "school"), level1_variables=["t", "y"],
                   level2_variables=["x2"], level3_variables=["w"])
    sub, n = m.subset_complete(["y"])
    assert n == int((d.child == "c1").sum())
    assert "c1" not in sub.unit_ids.tolist() and sub.n_level1 == len(d) - n
