"""JSON and CSV files handed to a command are read within limits of size and nesting: a file past them is
refused in one line naming it and the limit (exit 3), never an unexpected RecursionError or csv.Error."""

from __future__ import annotations

import json

import pytest

from conftest import orl
from triage.errors import BadInput, ExitStatus
from triage.intake import csvtext, jsontext

BAD_INPUT = int(ExitStatus.BAD_INPUT)


def one_clean_line(stderr: str) -> None:
    assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    assert "unexpected" not in stderr and "Recursion" not in stderr and "Traceback" not in stderr


def test_a_debrief_file_nested_200000_deep_is_refused_naming_the_file(cli, home, tmp_path):
    aid = cli.json("capture", "--photo", orl(5, 5))["arrival_id"]
    deep = tmp_path / "deep.json"
    deep.write_text('{"route": ' + "[" * 200_000 + "]" * 200_000 + "}")
    res = cli("debrief", aid, "--file", deep, code=BAD_INPUT)
    one_clean_line(res.stderr)
    assert str(deep) in res.stderr and f"{jsontext.MAX_DEPTH} levels" in res.stderr
    huge_number = tmp_path / "number.json"
    huge_number.write_text('{"amount": ' + "9" * 5000 + "}")
    one_clean_line(cli("debrief", aid, "--file", huge_number, code=BAD_INPUT).stderr)


def test_a_model_manifest_nested_too_deep_is_refused(cli, home):
    folder = home / "models" / "deepnet"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    res = cli("quality", orl(1, 1), "--matcher", "deepnet", code=BAD_INPUT)
    one_clean_line(res.stderr)
    assert "manifest.json" in res.stderr and "levels" in res.stderr
    assert "levels" in " ".join(cli.json("models", "list")["problems"])


@pytest.mark.parametrize("option", ["--csv", "--groups"])
def test_a_csv_cell_over_the_csv_modules_limit_is_a_clean_refusal(cli, home, tmp_path, option):
    sheet = tmp_path / "sheet.csv"
    if option == "--csv":
        sheet.write_text(f"photo,identity\n{orl(1, 1)},{'x' * 200_000}\n")
        args = ("--csv", sheet)
    else:
        sheet.write_text(f"identity,sex\ns1,{'F' * 200_000}\n")
        args = ("--fixture", "orl", "--groups", sheet)
    res = cli("evaluate", *args, code=BAD_INPUT)
    one_clean_line(res.stderr)
    assert str(sheet) in res.stderr


def test_a_csv_over_the_size_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    sheet = tmp_path / "big.csv"
    sheet.write_text("photo,identity\n" + "a.jpg,x\n" * 100)
    monkeypatch.setattr(csvtext, "MAX_BYTES", 256)
    with pytest.raises(BadInput, match="over the limit of 256"):
        csvtext.text(sheet)


def test_a_scenario_is_named_never_reached_by_a_path(cli, triage_env, tmp_path):
    outside = tmp_path / "evil.json"
    outside.write_text(json.dumps({"name": "evil"}))
    res = cli("training", "start", "--scenario", str(tmp_path / "evil"), "--home", tmp_path / "t", code=5)
    assert "no scenario" in res.stderr


def test_bounded_json_reading():
    assert jsontext.loads('{"a": "[[[[[[ \\" {{{{", "b": [[1]]}', "x") == {"a": '[[[[[[ " {{{{', "b": [[1]]}
    assert not jsontext.nested_deeper("[" * 64 + "]" * 64, 64)
    assert jsontext.nested_deeper("[" * 65 + "]" * 65, 64)
    with pytest.raises(BadInput, match="x.json: 21 characters is over the limit of 10"):
        jsontext.loads("[" + "1," * 9 + "1]", "x.json", max_chars=10)
    with pytest.raises(ValueError):  # not JSON: the caller words it for its own file
        jsontext.loads('{"a": ', "x.json")
    # an unterminated string full of escaped quotes is scanned in one pass, not once per quote
    assert not jsontext.nested_deeper('"' + 'a\\"' * 200_000 + "\\", 3)
