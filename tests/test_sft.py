"""Cold-start SFT on the tiny thinker: what trains, what is saved, labels, media features, styles, resume, DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from emoomni.build import OmniCoTRecord
from emoomni.settings import ConfigError
from emoomni.data.synthemo import generate
from emoomni.labels import label_set
from emoomni.model import answer_token_ids, chat_messages, guided_token_ids, load_omni, omni_inputs
from emoomni.omnicot import GUIDED_TOKENS, STYLES, OmniCoT, render_style
from emoomni.paths import REPO_ROOT
from emoomni.train.collator import OmniCollator
from emoomni.train.lora import merged_token_rows, trainable_token_ids
from emoomni.train.runs import save_adapter
from emoomni.train.sft import SFTSettings, load_settings, load_sft, main, make_sft_trainer, merge_sft, train_sft
from tests.net import free_port

LABELS = label_set("synthemo").labels


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("synthemo")
    return root, generate(root, 12, seed=0)


def trace(sample) -> OmniCoT:
    cues = sample.meta["cues"]
    return OmniCoT(f"The face looks {cues['vision']}.", f"The voice sounds {cues['audio']}.", sample.transcript,
                   f"Two cues point to {sample.label}.", sample.label)


@pytest.fixture(scope="module")
def records(data) -> list[OmniCoTRecord]:
    _, samples = data
    return [OmniCoTRecord(s.id, trace(s), True, "test") for s in samples if s.split == "train"]


def settings(**kw) -> SFTSettings:
    base = {"learning_rate": 1e-2, "per_device_batch_size": 2, "max_steps": 2, "save_steps": 100, "logging_steps": 1}
    return SFTSettings(**{**base, **kw})


@pytest.fixture(scope="module")
def trained(tiny, data, records, tmp_path_factory):
    """Two LoRA steps: the trainer, every parameter before training, and the saved adapter."""
    root, samples = data
    out = tmp_path_factory.mktemp("sft")
    trainer = make_sft_trainer(tiny, records, samples, root, LABELS, out / "run", settings(max_train_samples=4))
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    towers = trainer.model.get_base_model().model
    calls = {"audio": 0, "vision": 0}
    hooks = [tower.register_forward_hook(lambda *_, k=k: calls.__setitem__(k, calls[k] + 1))
             for k, tower in (("audio", towers.audio_tower), ("vision", towers.visual))]
    trainer.train()
    for h in hooks:
        h.remove()
    adapter = save_adapter(trainer, out / "adapter")
    trainer.model.eval()
    return trainer, before, adapter, calls


def base_name(name: str) -> str:
    """The plain thinker's parameter name for a peft-wrapped one."""
    name = name.removeprefix("base_model.model.")
    return name.replace(".base_layer", "").replace(".token_adapter", "")


def test_two_steps_change_lora_and_guided_rows_and_nothing_else(trained, tiny):
    trainer, before, _, _ = trained
    model = trainer.model
    base, processor = load_omni(tiny)
    base_params = dict(base.named_parameters())
    ids = sorted(guided_token_ids(processor).values())
    lora, deltas, frozen = [], [], []
    for name, p in model.named_parameters():
        if "lora_" in name:
            lora.append(name)
            assert p.requires_grad and not torch.equal(p, before[name]), name
            assert "language_model.layers" in name, name  # never in the audio or vision encoders
        elif "trainable_tokens_delta" in name:
            deltas.append(name)
            assert p.requires_grad and p.shape[0] == 4 and not torch.equal(p, before[name]), name
        else:
            frozen.append(name)
            assert not p.requires_grad, name
            assert torch.equal(p, before[name]) and torch.equal(p, base_params[base_name(name)]), name
    assert len(lora) == 3 * 2 * 7  # 3 layers x 7 linears x (A, B)
    assert sorted(d.split(".token_adapter")[0].rsplit(".", 1)[-1] for d in deltas) == ["embed_tokens", "lm_head"]
    assert {base_name(n) for n in frozen} == set(base_params)  # every base weight checked
    for merged, original in ((model.get_input_embeddings().weight, base.get_input_embeddings().weight),
                             (model.get_output_embeddings().weight, base.get_output_embeddings().weight)):
        changed = (merged != original).any(-1).nonzero().flatten().tolist()
        assert changed == ids


def test_answer_tokens_train_beside_the_guided_tokens_when_asked(tiny, data, records, tmp_path):
    root, samples = data
    s = settings(max_train_samples=4, train_answer_tokens=True)
    trainer = make_sft_trainer(tiny, records, samples, root, LABELS, tmp_path / "run", s)
    processor = trainer.processing_class
    answers = answer_token_ids(processor, LABELS)
    spans = {label: processor.tokenizer.encode(f"<answer>{label}</answer>", add_special_tokens=False) for label in LABELS}
    assert set(answers) == set().union(*spans.values())
    want = sorted(set(guided_token_ids(processor).values()) | set(answers))
    assert trainable_token_ids(processor, s, LABELS) == want
    with pytest.raises(ValueError, match="needs the label set"):
        trainable_token_ids(processor, s)
    base, _ = load_omni(tiny)
    trainer.train()
    model = trainer.model
    head = (model.get_output_embeddings().weight != base.get_output_embeddings().weight).any(-1)
    assert head.nonzero().flatten().tolist() == want  # every trainable output row moves, nothing else
    embed = (model.get_input_embeddings().weight != base.get_input_embeddings().weight).any(-1)
    seen = {i for r in records[:4] for i in spans[r.trace.answer]}  # input rows move where their token was read
    assert seen <= set(embed.nonzero().flatten().tolist()) <= set(want)


def test_adapter_reloads_with_identical_logits_and_generation(trained, data, tmp_path, tiny):
    trainer, _, adapter, _ = trained
    root, samples = data
    names = {p.name for p in adapter.iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json", "emoomni_adapter.json", "tokenizer.json"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pth")) for n in names)
    meta = json.loads((adapter / "emoomni_adapter.json").read_text())
    assert meta["base_model"] == str(tiny.resolve()) and meta["n_train"] == 4 and meta["global_step"] == 2
    model, processor = load_sft(adapter)
    inputs = omni_inputs(processor, [chat_messages(s, LABELS, root) for s in samples[5:7]], add_generation_prompt=True)
    with torch.no_grad():
        assert torch.equal(trainer.model(**inputs).logits, model(**inputs).logits)
        a = trainer.model.generate(**inputs, max_new_tokens=8, do_sample=False)
        b = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    assert torch.equal(a, b)
    merged = load_omni(merge_sft(adapter, tmp_path / "merged"))[0]
    with torch.no_grad():
        assert torch.allclose(merged(**inputs).logits, model(**inputs).logits, atol=1e-5)


def test_merged_token_rows_change_no_output_and_restore_every_weight(trained, data):
    """Generation and scoring with the token rows written in once give what the unmerged adapter gives."""
    trainer, _, _, _ = trained
    root, samples = data
    model = trainer.model
    inputs = omni_inputs(trainer.processing_class, [chat_messages(s, LABELS, root) for s in samples[5:7]],
                         add_generation_prompt=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        logits, ids = model(**inputs).logits, model.generate(**inputs, max_new_tokens=8, do_sample=False)
        with merged_token_rows(model) as same:
            rows = list(guided_token_ids(trainer.processing_class).values())
            head = same.get_output_embeddings().token_adapter.base_layer.weight
            assert not torch.equal(head[rows], before["base_model.model.lm_head.token_adapter.base_layer.weight"][rows])
            assert torch.equal(same(**inputs).logits, logits)
            assert torch.equal(same.generate(**inputs, max_new_tokens=8, do_sample=False), ids)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_loss_is_on_assistant_tokens_and_media_reach_the_loss(trained, data, records):
    trainer, _, _, calls = trained
    assert calls == {"audio": 2, "vision": 2}  # the Trainer's own forward passes ran both encoders
    processor = trainer.processing_class
    rows = [trainer.train_dataset[i] for i in range(2)]
    batch = OmniCollator(processor)(rows)
    for key in ("pixel_values_videos", "video_grid_thw", "video_second_per_grid", "input_features",
                "feature_attention_mask"):
        assert isinstance(batch[key], torch.Tensor) and batch[key].abs().sum() > 0, key
    assert batch["use_audio_in_video"] is True
    mask, labels = batch["attention_mask"], batch["labels"]
    assert not mask[:, 0].eq(0).any()  # right padding
    assert (labels[mask == 0] == -100).all()
    tok = processor.tokenizer
    for row, lab in zip(rows, labels):
        answer = json.loads(row["messages"])[-1]["content"][0]["text"]
        assert lab[lab != -100].tolist() == tok.encode(answer + "<|im_end|>", add_special_tokens=False)
        assert all(t in answer for t in GUIDED_TOKENS)
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, dict(batch))
        for key in ("pixel_values_videos", "input_features"):
            blind = dict(batch, **{key: torch.zeros_like(batch[key])})
            assert not torch.isclose(trainer.compute_loss(trainer.model, blind), loss, rtol=0, atol=1e-7), key


def test_every_style_trains_on_the_same_samples(tiny, data, records, tmp_path):
    root, samples = data
    ids = None
    for style in STYLES:
        trainer = make_sft_trainer(tiny, records, samples, root, LABELS, tmp_path / style,
                                   settings(target_style=style, max_steps=1, max_train_samples=3))
        rows = list(trainer.train_dataset)
        assert len(rows) == 3 and (ids is None or [r["id"] for r in rows] == ids)
        ids = [r["id"] for r in rows]
        answers = [json.loads(r["messages"])[-1]["content"][0]["text"] for r in rows]
        assert answers == [render_style(r.trace, style) for r in records[:3]]
        assert all(("[vision]" in a) == (style == "omnicot") for a in answers)
        trainer.train()
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        assert trainer.state.global_step == 1 and losses and all(map(torch.isfinite, torch.tensor(losses)))


def test_resume_from_the_latest_checkpoint(tiny, data, records, tmp_path):
    root, samples = data
    out = tmp_path / "run"
    s = settings(max_steps=2, save_steps=1, max_train_samples=4, per_device_batch_size=1)
    first = train_sft(tiny, records, samples, root, LABELS, out, s)
    assert json.loads((out / "train_state.json").read_text())["resumed_from"] is None
    log1 = pd.read_csv(out / "log_history.csv")
    assert (out / "checkpoint-2" / "trainer_state.json").exists()
    again = train_sft(tiny, records, samples, root, LABELS, out, SFTSettings(**{**s.__dict__, "max_steps": 4}))
    state = json.loads((out / "train_state.json").read_text())
    assert again == first and state["resumed_from"] == "checkpoint-2"
    assert state["start_step"] == 2 and state["global_step"] == 4
    log2 = pd.read_csv(out / "log_history.csv")
    steps = log2.dropna(subset=["loss"])["step"].tolist()
    assert steps == [1, 2, 3, 4]  # steps 1-2 restored from the checkpoint, not retrained
    assert log2.dropna(subset=["loss"])["loss"].tolist()[:2] == log1.dropna(subset=["loss"])["loss"].tolist()
    meta = json.loads((first / "emoomni_adapter.json").read_text())
    assert meta["global_step"] == 4 and meta["resumed_from"] == "checkpoint-2"
    # the same call again is the cache; another style on the same directory is refused
    mtime = (first / "adapter_model.safetensors").stat().st_mtime_ns
    assert train_sft(tiny, records, samples, root, LABELS, out, SFTSettings(**{**s.__dict__, "max_steps": 4})) == first
    assert (first / "adapter_model.safetensors").stat().st_mtime_ns == mtime
    with pytest.raises(ValueError, match="another run"):
        train_sft(tiny, records, samples, root, LABELS, out, SFTSettings(**{**s.__dict__, "target_style": "label"}))


def test_keep_best_saves_the_adapter_of_the_lowest_held_out_loss(tiny, data, records, tmp_path):
    from safetensors.torch import load_file

    root, samples = data
    s = settings(max_steps=4, eval_steps=1, save_total_limit=1, max_train_samples=4, per_device_batch_size=1,
                 learning_rate=0.3, keep_best=True)
    adapter = train_sft(tiny, records, samples, root, LABELS, tmp_path / "run", s, eval_records=records[4:6])
    log = pd.read_csv(tmp_path / "run" / "log_history.csv").dropna(subset=["eval_loss"])
    best = int(log.loc[log["eval_loss"].idxmin(), "step"])
    assert len(log) == 4 and best < 4, "the test needs a run whose last evaluation is not its best"
    saved = load_file(adapter / "adapter_model.safetensors")
    kept = load_file(tmp_path / "run" / f"checkpoint-{best}" / "adapter_model.safetensors")
    assert saved.keys() == kept.keys() and all(torch.equal(saved[k], kept[k]) for k in saved)
    with pytest.raises(ValueError, match="keep_best needs evaluation records"):
        train_sft(tiny, records, samples, root, LABELS, tmp_path / "other", s)


def test_two_process_data_parallel_step_ends_with_identical_weights(tiny, data, tmp_path):
    root, _ = data
    port = free_port()
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [str(torchrun), "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", str(port),
           str(REPO_ROOT / "scripts" / "ddp_sft_check.py"), "--model", str(tiny), "--data-root", str(root),
           "--out", str(tmp_path)]
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{i}.json").read_text()) for i in (0, 1))
    assert r0["world_size"] == r1["world_size"] == r0["args_world_size"] == 2 and r0["backend"] == "gloo"
    assert {r0["rank"], r1["rank"]} == {0, 1} and r0["global_step"] == r1["global_step"] == 2
    assert not set(r0["seen"]) & set(r1["seen"])  # each rank trained on its own shard
    assert r0["trainable"] == r1["trainable"]
    assert r0["initial"] == r1["initial"] and r0["trainable"] != r0["initial"]


def test_settings_validate_and_the_command_line_has_help(tmp_path, capsys):
    with pytest.raises(ValueError, match="target_style"):
        SFTSettings(target_style="cot")
    (tmp_path / "s.yaml").write_text("rank: 4\nlearning_rate: 0.001\n")
    assert load_settings(tmp_path / "s.yaml", max_steps=3).rank == 4
    assert load_settings(tmp_path / "s.yaml", max_steps=3).max_steps == 3
    (tmp_path / "bad.yaml").write_text("rnak: 4\n")
    with pytest.raises(ConfigError, match="rnak"):
        load_settings(tmp_path / "bad.yaml")
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0 and "--style" in capsys.readouterr().out


def test_multi_gpu_launch_configs_are_valid():
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(REPO_ROOT / "configs" / "accelerate" / "multi_gpu_zero2.yaml"))
    assert config.distributed_type == "DEEPSPEED" and config.num_processes >= 2 and not config.use_cpu
    ds_path = REPO_ROOT / config.deepspeed_config["deepspeed_config_file"]
    ds = json.loads(ds_path.read_text())
    assert ds["zero_optimization"]["stage"] == 2 and ds["bf16"]["enabled"] == "auto"
    assert config.mixed_precision is None  # precision comes from the DeepSpeed file


def test_free_order_targets_follow_a_per_sample_order_with_analysis_last(data, records):
    from emoomni.omnicot import is_valid, parse, section_order
    from emoomni.train.sft import sft_data

    root, samples = data
    rows, _ = sft_data(records, samples, root, LABELS, settings(order="free"))
    answers = {r["id"]: json.loads(r["messages"])[-1]["content"][0]["text"] for r in rows}
    orders = set()
    for r in records:
        text = answers[r.sample_id]
        found = tuple(sorted(("vision", "audio", "dialogue", "analysis"), key=lambda m: text.index(f"[{m}]")))
        assert found == section_order("free", r.sample_id) and found[-1] == "analysis"
        assert is_valid(text, "free") and parse(text, "free") == r.trace
        orders.add(found)
    assert len(orders) > 1  # the order varies across samples
    fixed, _ = sft_data(records, samples, root, LABELS, settings())
    assert [json.loads(r["messages"])[-1]["content"][0]["text"] for r in fixed] == [
        render_style(r.trace, "omnicot") for r in records]
    with pytest.raises(ValueError, match="section order"):
        settings(order="shuffled")
