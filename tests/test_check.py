"""`emoomni check`: the paper profile is structurally valid and passes once its models and data exist."""

import yaml

from emoomni.check import check
from emoomni.cli import main
from emoomni.data.manifest import Sample, write_manifest
from emoomni.paths import REPO_ROOT
from tests.tiny_models import build_tiny_qwen3


def test_paper_profile_only_lacks_weights_and_data_here(monkeypatch):
    for var in ("EMOOMNI_DATA", "MER2023_ROOT"):
        monkeypatch.delenv(var, raising=False)
    problems = [p for p in check("paper") if p.level == "error"]
    assert problems, "this machine has neither the paper's weights nor its data"
    for p in problems:
        assert "not set" in p.message or "not in the local Hugging Face cache" in p.message, p


def test_paper_profile_passes_when_models_and_data_are_local(tmp_path, monkeypatch):
    model = build_tiny_qwen3(tmp_path / "qwen3")
    data = tmp_path / "mer"
    (data / "video").mkdir(parents=True)
    manifests = tmp_path / "emoomni-data" / "manifests"
    write_manifest([Sample("a", "mer2023", "train", video="video/a.mp4", label="happy")], manifests / "mer2023.jsonl")
    monkeypatch.setenv("EMOOMNI_DATA", str(tmp_path / "emoomni-data"))
    monkeypatch.setenv("MER2023_ROOT", str(data))
    cfg = yaml.safe_load((REPO_ROOT / "params" / "paper.yaml").read_text())
    for m in ("vision", "audio", "dialogue", "verifier"):
        cfg["omnicot"][m]["options"]["model"] = str(model)
    cfg["base"]["model"] = str(model)
    monkeypatch.setenv("OMNIBENCH_ROOT", str(data))
    monkeypatch.setenv("MER2025_ROOT", str(data))
    write_manifest([Sample("c", "mer2025", "test", video="video/c.mp4", label="happy")], manifests / "mer2025.jsonl")
    write_manifest([Sample("b", "dfew", "train", video="video/b.mp4", label="sad")],
                   manifests / "grpo_dfew_mer2025.jsonl")
    path = tmp_path / "paper-local.yaml"
    path.write_text(yaml.safe_dump(cfg))
    problems = check(path)
    assert [p for p in problems if p.level == "error"] == []
    assert any("CUDA" in p.message for p in problems)


def test_check_reports_bad_keys_and_backends(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("omnicot:\n  vision: {backend: nope}\n")
    problems = check(path)
    assert any("no vision backend 'nope'" in p.message for p in problems)
    path.write_text("omnicot:\n  colour: red\n")
    assert "unknown key" in check(path)[0].message
    try:
        main(["check", str(path)])
    except SystemExit as e:
        assert e.code == 1
    assert "problem(s) to fix" in capsys.readouterr().out
