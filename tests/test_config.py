from dataclasses import replace

import pytest

from emoomni import config
from emoomni.paths import REPO_ROOT


@pytest.mark.parametrize("profile", sorted(p.stem for p in (REPO_ROOT / "params").glob("*.yaml")))
def test_every_shipped_profile_loads(profile):
    p = config.load(profile)
    assert p.profile == profile
    assert p.synthemo.n_clips > 0


def test_unknown_keys_and_wrong_types_raise_with_location(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("synthemo:\n  clip:\n    frame: 8\n")
    with pytest.raises(config.ConfigError, match=r"bad.yaml:synthemo:clip: unknown key\(s\) \['frame'\]"):
        config.load(bad)
    bad.write_text("synthemo:\n  seed: one\n")
    with pytest.raises(config.ConfigError, match="synthemo:seed: expected int"):
        config.load(bad)
    with pytest.raises(config.ConfigError, match="no profile 'nope'"):
        config.load("nope")


def test_overrides_and_types():
    p = config.load("smoke", **{"synthemo.seed": 7, "synthemo.clip.fps": 5})
    assert p.synthemo.seed == 7 and p.synthemo.clip.fps == 5.0 and isinstance(p.synthemo.clip.fps, float)
    assert config.stage_hash(p.synthemo) != config.stage_hash(config.load("smoke").synthemo)


def test_overrides_left_at_none_keep_the_profiles_values():
    smoke = config.load("smoke")
    p = config.load("smoke", **{"synthemo.seed": None, "grpo.settings.max_steps": None, "study.alphas": None,
                                "omnicot.verifier.backend": None, "nowhere.at.all": None})
    assert p == smoke
    assert config.load("smoke", **{"grpo.settings.alpha": 0, "study.alphas": [0.0, 0.3]}).grpo.settings.alpha == 0.0
    assert config.load("smoke", **{"study.alphas": [0.0, 0.3]}).study.alphas == (0.0, 0.3)


def test_order_and_entropy_site_change_cache_keys_only_when_set():
    import dataclasses
    import hashlib
    import json
    from dataclasses import replace

    from emoomni.evaluate.registry import for_profile
    from emoomni.stages import omnicot_dir

    p = config.load("default")
    free = config.load("default", **{"omnicot.order": "free", "eval.entropy_site": "section"})
    g = p.grpo.settings
    # the key as it was computed before the fields existed: the defaults leave it unchanged
    before = {k: v for k, v in dataclasses.asdict(g).items() if k not in ("entropy_site", "order")}
    assert config.stage_hash(g) == hashlib.sha256(json.dumps(before, sort_keys=True, default=str).encode()).hexdigest()[:12]
    assert config.stage_hash(replace(g, entropy_site="following")) != config.stage_hash(g)
    assert config.stage_hash(replace(g, order="free")) != config.stage_hash(g)
    assert config.stage_hash(replace(p.sft.settings, order="free")) != config.stage_hash(p.sft.settings)
    assert config.stage_hash(free.eval) != config.stage_hash(p.eval)
    assert omnicot_dir(free) == omnicot_dir(p)  # the build does not depend on the order
    bench, other = for_profile("synthemo", p), for_profile("synthemo", free)
    assert (other.order, other.entropy_site) == ("free", "section") and bench.key() != other.key()
    assert for_profile("synthemo", config.load("default")).key() == bench.key()


def test_sub_settings_follow_omnicot_order():
    with pytest.raises(config.ConfigError, match="omnicot.order"):
        config.load("default", **{"sft.settings.order": "free"})
    p = config.load("default", **{"omnicot.order": "free", "grpo.settings.order": "free"})
    assert p.grpo.settings.order == "free"


def test_a_profile_can_extend_another_and_share_its_cached_stages(tmp_path):
    study, default = config.load("study"), config.load("default")
    assert study.profile == "study" and study.runs == "default" and len(study.study.seeds) >= 5
    assert replace(study, profile="default", runs=None, study=default.study) == default
    (tmp_path / "a.yaml").write_text(f"extends: {tmp_path / 'b.yaml'}\n")
    (tmp_path / "b.yaml").write_text(f"extends: {tmp_path / 'a.yaml'}\n")
    with pytest.raises(config.ConfigError, match="circle"):
        config.load(tmp_path / "a.yaml")


def test_a_style_can_have_its_own_learning_rate(tmp_path):
    p = config.load("smoke", **{"sft.learning_rates": {"label": 0.0005}})
    assert p.sft.for_style("label").learning_rate == 0.0005
    assert p.sft.for_style("omnicot").learning_rate == p.sft.settings.learning_rate != 0.0005
    assert config.load("default").sft.for_style("label").learning_rate == 0.001
    bad = tmp_path / "bad.yaml"
    bad.write_text("sft:\n  learning_rates: {labels: 0.001}\n")
    with pytest.raises(config.ConfigError, match=r"unknown style\(s\) \['labels'\]"):
        config.load(bad)


def test_the_vision_width_changes_the_base_key_only_when_set():
    import dataclasses
    import hashlib
    import json

    b = config.load("default").base
    before = {k: v for k, v in dataclasses.asdict(b).items() if k != "vision_width"}
    before["pretrain"] = config.key_dict(b.pretrain)
    assert config.stage_hash(b) == hashlib.sha256(json.dumps(before, sort_keys=True, default=str).encode()).hexdigest()[:12]
    assert config.stage_hash(dataclasses.replace(b, vision_width=128)) != config.stage_hash(b)
