"""DyME-GRPO on TRL: media in every forward, exact statistics, the reward formula, resume and what trains."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch

from emoomni import ledger
from emoomni.data.synthemo import generate
from emoomni.labels import label_set
from emoomni.model import chat_messages, guided_token_ids
from emoomni.paths import REPO_ROOT
from emoomni.train.advantages import alpha_advantage_share
from emoomni.train.grpo import GRPOSettings, grpo_rows, make_grpo_trainer, reward_weights, rows_key, train_grpo
from emoomni.train.media_rows import omni_rows
from emoomni.train.rewards import dyme_score, modality_reward
from emoomni.train.runs import ADAPTER_META, finished
from tests.test_predict import full_logits, reference_p_star, reference_site_stats, reference_stats
from tests.net import free_port

pytestmark = pytest.mark.usefixtures("one_thread")
LABELS = label_set("synthemo").labels
TOL = 1e-5
FAST = dict(num_generations=2, per_device_batch_size=2, max_completion_length=8, learning_rate=1e-3,
            save_steps=100, logging_steps=1, report_to=())


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthemo")
    samples = [s for s in generate(root, 6, seed=0) if s.label]  # pre-training clips may have none
    # one clip shown as a plain video (its audio not interleaved), so batches mix rotary layouts
    samples[1] = replace(samples[1], meta={**samples[1].meta, "audio_in_video": False})
    return root, samples


def test_reward_weights_make_alpha_zero_vanilla_grpo():
    assert reward_weights(GRPOSettings(alpha=0.2)) == (["format_accuracy", "modality"], [1.0, 0.2])
    assert reward_weights(GRPOSettings(alpha=0.0)) == (["format_accuracy", "modality"], [1.0, 0.0])
    assert reward_weights(GRPOSettings(alpha=0.0, track_modality=False)) == (["format_accuracy"], [1.0])


def test_every_grpo_setting_reaches_trl_explicitly(tiny, data, tmp_path):
    root, samples = data
    s = GRPOSettings(alpha=0.1, beta=0.02, epsilon=0.3, num_generations=2, temperature=0.9, top_p=0.95, top_k=5,
                     max_completion_length=16, learning_rate=2e-6, per_device_batch_size=2, report_to=())
    trainer = make_grpo_trainer(tiny, grpo_rows(samples[:2], root, "synthemo", s), tmp_path, s)
    a = trainer.args
    assert (a.loss_type, a.beta, a.epsilon, a.num_generations, a.temperature, a.top_p, a.top_k) == (
        "grpo", 0.02, 0.3, 2, 0.9, 0.95, 5)
    assert (a.max_completion_length, a.learning_rate, a.reward_weights, a.scale_rewards) == (16, 2e-6, [1.0, 0.1],
                                                                                             "group")
    batch = GRPOSettings(**{**FAST, "scale_rewards": "batch", "entropy_site": "section", "order": "free"})
    other = make_grpo_trainer(tiny, grpo_rows(samples[:2], root, "synthemo", batch), tmp_path / "b", batch)
    assert (other.args.scale_rewards, other.scale_rewards, other.entropy_site) == ("batch", "batch", "section")
    assert {r["order"] for r in grpo_rows(samples[:2], root, "synthemo", batch)} == {"free"}
    for bad in ({"scale_rewards": "groups"}, {"entropy_site": "anywhere"}, {"order": "random"}):
        with pytest.raises(ValueError):
            GRPOSettings(**bad)
    assert set(trainer.generation_config.suppress_tokens or []) >= {trainer.processing_class.video_token_id,
                                                                    trainer.processing_class.audio_token_id}


def test_trls_weighted_reward_sum_is_the_papers_r(tiny, data, tmp_path):
    """alpha reaches TRL as the modality reward's weight, and TRL's weighted sum of the rewards is R."""
    root, samples = data
    s = GRPOSettings(**{**FAST, "alpha": 0.3})
    trainer = make_grpo_trainer(tiny, grpo_rows(samples[:2], root, "synthemo", s), tmp_path, s)
    rng = random.Random(0)
    texts, golds, stats, p_star = [], [], [], []
    for i in range(24):
        answer, gold = rng.choice(LABELS), rng.choice(LABELS)
        body = "<think>[vision] a [audio] b [dialogue] c [analysis] d</think>" if i % 3 else "[audio] only"
        texts.append(f"{body}<answer>{answer}</answer>")
        golds.append(gold)
        stats.append({m: {"entropy": rng.uniform(0.0, 3.0), "prob": rng.uniform(0.1, 1.0)} for m in ("vision", "audio")})
        p_star.append(rng.uniform(0.0, 1.0))
    columns = {"gold": golds, "label_set": ["synthemo"] * len(texts), "guided_stats": stats, "p_star": p_star}
    per_func = torch.tensor([f(completions=texts, **columns) for f in trainer.reward_funcs]).T
    trl_sum = (per_func * trainer.reward_weights.unsqueeze(0)).nansum(dim=1)  # TRL's own combination
    paper = [dyme_score(x, g, "synthemo", {m: st[m]["entropy"] for m in st}, {m: st[m]["prob"] for m in st}, ps,
                        alpha=0.3) for x, g, st, ps in zip(texts, golds, stats, p_star)]
    assert trainer.reward_weights.tolist() == pytest.approx([1.0, 0.3])
    assert trl_sum.tolist() == pytest.approx(paper, abs=1e-6)
    assert len(set(paper)) > 3  # right, wrong and invalid traces with varied R_mod all took part
    # the step's advantage diagnostics read TRL's rewards per function: group 1 all right, group 2 split
    trainer.model.train()
    trainer._log_advantages(torch.tensor([[1.0, 0.2], [1.0, 0.0], [1.0, 0.0], [0.0, 0.0]]))
    metrics = trainer._metrics["train"]
    assert metrics["dyme/constant_task_groups"][-1] == 0.5
    assert metrics["dyme/advantage_share_alpha"][-1] == pytest.approx(
        alpha_advantage_share([1.0, 1.0, 1.0, 0.0], [0.2, 0.0, 0.0, 0.0], 0.3, 2, "group"))
    assert metrics["dyme/advantage_share_alpha"][-1] > 0.49  # alpha x R_mod is 1.5 % of the reward


def test_statistics_handed_to_the_reward_equal_a_full_logits_forward(tiny, data, tmp_path):
    root, samples = data
    s = GRPOSettings(**FAST)
    chosen = samples[:3]
    trainer = make_grpo_trainer(tiny, grpo_rows(chosen, root, "synthemo", s), tmp_path, s)
    model, processor = trainer.model, trainer.processing_class
    model.eval()
    tok = processor.tokenizer
    texts = ["<think>\n[vision] a frown\n[audio] low voice\n[dialogue] none\n[analysis] sad cues\n</think>\n"
             "<answer>sad</answer>",
             "<think>\n[vision] a smile\n[audio] a bright voice\n[dialogue] hi\n[analysis] happy\n</think>\n"
             "<answer>happy</answer>",
             "[audio] flat, no other section"]
    end = tok.convert_tokens_to_ids("<|im_end|>")
    comps = [tok.encode(t, add_special_tokens=False) + [end] for t in texts]
    golds = [x.label for x in chosen]
    chats = [chat_messages(x, LABELS, root) for x in chosen]
    trainer._gen_rows = omni_rows(processor, chats, trainer.fps, trainer.frame_size)
    assert {r["aiv"] for r in trainer._gen_rows} == {True, False}  # a mixed rotary layout batch
    guided, p_star = trainer.modality_statistics(comps, golds)
    some, some_p = trainer.modality_statistics(comps, golds, needed=[True, False, True])
    at_site = {}
    for site in ("following", "section"):
        trainer.entropy_site = site
        at_site[site] = trainer.modality_statistics(comps, golds)[0]
    trainer.entropy_site = "emitted"
    trainer._gen_rows = None
    assert some[1] == {m: None for m in some[1]} and some_p[1] is None  # unscored rows get nothing
    assert some[0]["vision"]["entropy"] == pytest.approx(guided[0]["vision"]["entropy"], abs=TOL)
    assert some_p[2] == pytest.approx(p_star[2], abs=TOL)
    ids = {k.strip("[]"): v for k, v in guided_token_ids(processor).items()}
    worst = 0.0
    for b, sample in enumerate(chosen):
        logits, t, _ = full_logits(model, processor, sample, root, texts[b])
        for name, token in ids.items():
            ref = reference_stats(logits, t, comps[b][:-1], token)
            got = guided[b][name]
            assert (ref is None) == (got is None), (b, name)
            if ref is not None:
                worst = max(worst, abs(got["entropy"] - ref["entropy"]), abs(got["prob"] - ref["prob"]))
        for site, got_site in at_site.items():  # H_m at the other sites, p_m unchanged
            for name, token in ids.items():
                ref = reference_site_stats(logits, t, comps[b][:-1], token, site, set(ids.values()), tok)
                got = got_site[b][name]
                assert (ref is None) == (got is None), (site, b, name)
                if ref is not None:
                    worst = max(worst, abs(got["entropy"] - ref["entropy"]), abs(got["prob"] - ref["prob"]))
        prefix = texts[b][: texts[b].index("<answer>") + len("<answer>")] if "<answer>" in texts[b] \
            else texts[b] + "\n<answer>"
        ref_logp, _ = reference_p_star(model, processor, sample, root, prefix, golds[b])
        worst = max(worst, abs(p_star[b] - math.exp(ref_logp)))
    assert worst < TOL
    # and the reward is the formula on those numbers, computed here by hand
    rewards = modality_reward(texts, guided_stats=guided, p_star=p_star)
    for b in range(2):
        h = {m: guided[b][m]["entropy"] for m in ("vision", "audio")}
        p = {m: guided[b][m]["prob"] for m in ("vision", "audio")}
        u = {m: p[m] / h[m] for m in h}
        w = {m: u[m] / sum(u.values()) for m in u}
        assert math.isclose(rewards[b], (1 - p_star[b]) * sum(w[m] * h[m] for m in h), rel_tol=1e-9)
    assert rewards[2] == 0.0  # not a valid trace


def test_training_steps_carry_the_media_into_every_forward_and_move_only_the_adapter(tiny, data, tmp_path):
    root, samples = data
    s = GRPOSettings(**{**FAST, "max_steps": 2, "beta": 0.04})
    trainer = make_grpo_trainer(tiny, grpo_rows(samples[:4], root, "synthemo", s), tmp_path, s)
    calls = []
    from emoomni.model.guided_stats import unwrap_thinker

    def record(module, args, kwargs):
        keys = {k for k, v in kwargs.items() if v is not None}
        calls.append((torch.is_grad_enabled(), keys | ({"aiv"} if kwargs.get("use_audio_in_video") else set())))

    def varied(completions, **kwargs):  # a random tiny policy never earns R_fmt * R_acc; a spread by position
        return [float(i) for i in range(len(completions))]  # never ties, whatever this CPU's sampling draws

    trainer.reward_funcs[0] = varied
    handle = unwrap_thinker(trainer.model).register_forward_pre_hook(record, with_kwargs=True)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    handle.remove()
    loss_calls = [keys for grad, keys in calls if grad]
    assert len(loss_calls) >= 2
    for keys in loss_calls:  # the policy loss saw the clip: video pixels, and the audio track where it plays
        assert {"pixel_values_videos", "video_grid_thw", "use_audio_in_video"} <= keys
        assert "aiv" not in keys or {"input_features", "feature_attention_mask"} <= keys
    assert any("aiv" in keys for keys in loss_calls)
    moved = {n for n, p in trainer.model.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert any("lora_" in n for n in moved) and any("trainable_tokens" in n for n in moved)
    assert all("lora_" in n or "trainable_tokens" in n for n in moved), sorted(moved)
    logged = pd.DataFrame(trainer.state.log_history)
    for column in ("rewards/format_accuracy_reward/mean", "rewards/modality_reward/mean", "dyme/format_rate",
                   "dyme/accuracy", "completions/mean_length", "kl", "dyme/advantage_share_alpha",
                   "dyme/constant_task_groups"):
        assert column in logged.columns, column
    # the spread-by-position task reward is never constant in a group, and R_mod is 0 without valid traces
    assert (logged["dyme/constant_task_groups"].dropna() == 0).all()
    assert (logged["dyme/advantage_share_alpha"].dropna() == 0).all()


def test_a_batch_without_its_media_is_refused(tiny, data, tmp_path):
    root, samples = data
    s = GRPOSettings(**{**FAST, "max_steps": 1})
    trainer = make_grpo_trainer(tiny, grpo_rows(samples[:2], root, "synthemo", s), tmp_path, s)
    original = trainer._generate_and_score_completions

    def drop_media(inputs):
        out = original(inputs)
        out.pop("media")
        return out

    trainer._generate_and_score_completions = drop_media
    with pytest.raises(KeyError, match="media"):
        trainer.train()


def test_a_killed_run_resumes_from_its_checkpoint_and_a_finished_one_is_reused(tiny, data, tmp_path):
    root, samples = data
    out = tmp_path / "run"
    first = GRPOSettings(**{**FAST, "max_steps": 1, "save_steps": 1})
    train_grpo(tiny, samples[:4], root, "synthemo", out, first)  # stands in for a run killed after step 1
    assert (out / "checkpoint-1").is_dir()
    (out / "adapter").rename(tmp_path / "first-adapter")  # the run is not finished
    again = replace(first, max_steps=2)
    adapter = train_grpo(tiny, samples[:4], root, "synthemo", out, again)
    meta = json.loads((adapter / "emoomni_adapter.json").read_text())
    assert meta["resumed_from"] == "checkpoint-1" and meta["start_step"] == 1 and meta["global_step"] == 2
    assert ledger.entries()[-1] == ledger.Entry("GRPO alpha=0.1", str(adapter), "computed")
    ledger.clear()
    assert train_grpo(tiny, samples[:4], root, "synthemo", out, again) == adapter  # reused, no training
    assert ledger.entries() == [ledger.Entry("GRPO alpha=0.1", str(adapter), "reused")]
    key = rows_key(grpo_rows(samples[:4], root, "synthemo", again))
    assert finished(out, again, key, tiny, "adapter", ADAPTER_META) == adapter
    other = tmp_path / "another-sft-model"
    other.mkdir()
    assert finished(out, again, key, other, "adapter", ADAPTER_META) is None  # a stale run is not returned
    with pytest.raises(ValueError, match="another run"):
        train_grpo(tiny, samples[:4], root, "synthemo", out, replace(again, beta=0.5, max_steps=3))


def test_two_process_data_parallel_grpo_keeps_both_ranks_identical(tiny, data, tmp_path):
    root, samples = data
    manifest = tmp_path / "manifest.jsonl"
    from emoomni.data.manifest import write_manifest

    write_manifest([replace(x, split="train") for x in samples], manifest)
    accelerate = Path(sys.executable).with_name("accelerate")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_ip", "127.0.0.1",
           "--main_process_port", str(free_port()), str(REPO_ROOT / "scripts" / "ddp_grpo_check.py"),
           "--model", str(tiny), "--manifest", str(manifest), "--data-root", str(root), "--out", str(tmp_path)]
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=400, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{i}.json").read_text()) for i in (0, 1))
    assert r0["world_size"] == r1["world_size"] == 2 and r0["backend"] == "gloo"
    assert len(r0["steps"]) == len(r1["steps"]) == 2
    assert r0["steps"] == r1["steps"]  # identical weights after each step
    assert r0["steps"][-1] != r0["initial"]
    assert not set(r0["prompts"]) & set(r1["prompts"])  # each rank generated for its own prompts


def test_settings_file_and_the_command_line_help(tmp_path, capsys):
    from emoomni.settings import ConfigError
    from emoomni.train.grpo import load_settings, main

    (tmp_path / "g.yaml").write_text("beta: 0.1\nrewards: [format_accuracy]\n")
    s = load_settings(tmp_path / "g.yaml", alpha=0.0)
    assert (s.beta, s.rewards, s.alpha) == (0.1, ("format_accuracy",), 0.0)
    (tmp_path / "bad.yaml").write_text("betta: 0.1\n")
    with pytest.raises(ConfigError, match="betta"):
        load_settings(tmp_path / "bad.yaml")
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0 and "--alpha" in capsys.readouterr().out


def test_statistics_read_off_generation_equal_the_teacher_forced_pass(tiny, data, tmp_path, monkeypatch):
    """H_m, p_m and p* from generation's own logits agree with the teacher-forced pass; only p* of a wrong answer
    is teacher-forced."""
    root, samples = data
    s = GRPOSettings(**{**FAST, "max_completion_length": 64})
    trainer = make_grpo_trainer(tiny, grpo_rows(samples[:4], root, "synthemo", s), tmp_path, s)
    tok = trainer.processing_class.tokenizer
    prompts = [json.dumps(chat_messages(x, LABELS, root)) for x in samples]
    plain = [r["plain"] for r in omni_rows(trainer.processing_class, [json.loads(p) for p in prompts],
                                           trainer.fps, trainer.frame_size)]
    chosen = [b for b in range(len(samples)) if plain[b] == plain[0]][:3]  # one generation group
    assert len(chosen) == 3
    golds = [samples[b].label for b in chosen]
    wrong = next(label for label in LABELS if label != golds[1])
    body = "<think>\n[vision] a frown\n[audio] a low voice\n[dialogue] hi\n[analysis] {}\n</think>\n"
    texts = [body.format(golds[0]) + f"<answer>{golds[0]}</answer>",
             body.format(wrong) + f"<answer>{wrong}</answer>", "[audio] flat, no answer"]
    end = tok.convert_tokens_to_ids("<|im_end|>")
    targets = [tok.encode(t, add_special_tokens=False) + [end] for t in texts]
    prompt_ids, _, _ = trainer._tokenize_prompts([prompts[b] for b in chosen])
    width = max(len(p) for p in prompt_ids)
    model = trainer.accelerator.unwrap_model(trainer.model_wrapped)

    def force(batch_id, ids):  # the targets are generated; generation's raw logits are the policy's all the same
        n = ids.size(0) - width
        return [targets[batch_id][n] if n < len(targets[batch_id]) else end]

    monkeypatch.setattr(model, "generate", lambda **kw: type(model).generate(model, prefix_allowed_tokens_fn=force, **kw))
    model.eval()
    comps, _ = trainer._generate_single_turn(prompt_ids, None, {}, 1)
    assert comps == targets
    scored = []
    score = trainer._score_sequences
    monkeypatch.setattr(trainer, "_score_sequences", lambda seqs, rows: scored.append(len(seqs)) or score(seqs, rows))
    for site in ("emitted", "following", "section"):
        trainer.entropy_site = site
        fast, fast_p = trainer.modality_statistics(comps, golds)
        assert scored[-1:] == [2] and len(scored) == 1  # the wrong answer and the missing one only
        scored.clear()
        slow, slow_p = trainer.modality_statistics(comps, golds, from_generation=False)
        scored.clear()
        assert fast_p[0] is not None and fast_p[0] == pytest.approx(slow_p[0], abs=TOL)
        assert fast_p[1:] == pytest.approx(slow_p[1:], abs=TOL)
        for f, g in zip(fast, slow):
            for m in f:
                assert (f[m] is None) == (g[m] is None), (site, m)
                if f[m] is not None:
                    assert f[m]["entropy"] == pytest.approx(g[m]["entropy"], abs=TOL)
                    assert f[m]["prob"] == pytest.approx(g[m]["prob"], abs=TOL)
        assert sum(f[m] is not None for f in fast for m in f) >= 5
