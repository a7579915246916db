"""The install story: pyproject is the single source of pip dependencies; the other files agree with it."""

import re
import tomllib

import yaml

from emoomni.paths import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def test_environment_yml_installs_this_package_with_existing_extras():
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python="))
    assert python == "python=3.11"
    assert ">=3.11,<3.12" == PYPROJECT["project"]["requires-python"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    assert len(pip) == 1, "pip packages belong in pyproject.toml, not environment.yml"
    m = re.fullmatch(r"-e \.\[(.*)\]", pip[0])
    assert m, pip[0]
    extras = set(m.group(1).split(","))
    assert extras == set(PYPROJECT["project"]["optional-dependencies"])
    conda_names = {re.split(r"[=<>]", d)[0] for d in deps if isinstance(d, str)}
    assert {"ffmpeg", "espeak-ng"} <= conda_names


def test_setup_script_installs_the_same_extras_and_apt_packages():
    text = (REPO_ROOT / "scripts" / "setup.sh").read_text()
    m = re.search(r'pip install -q -e "\.\[(.*?)\]"', text)
    assert m and set(m.group(1).split(",")) == set(PYPROJECT["project"]["optional-dependencies"])
    for pkg in ("ffmpeg", "espeak-ng"):
        assert pkg in text


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second():
    lines = [ln for ln in (REPO_ROOT / "README.md").read_text().splitlines() if ln.strip()]
    fence = lines.index("```bash")
    commands = [c.split("#")[0].strip() for c in lines[fence + 1 : lines.index("```", fence)]]
    assert len(commands) == 2
    assert commands[0].endswith("make book") and commands[1].endswith("make test")
    assert commands[1] in (REPO_ROOT / ".ci" / "run").read_text()


def test_core_pins_match_the_tested_stack():
    deps = {re.split(r"[=<>]", d)[0]: d for d in PYPROJECT["project"]["dependencies"]}
    for name in ("torch", "torchvision", "transformers", "trl", "peft", "accelerate"):
        assert "==" in deps[name], f"{name} must be pinned"
