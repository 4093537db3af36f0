"""The int8 transformer (multinerd.pipeline.precision) on the tiny BERT: the trf pipeline's setting
quantizes its linear layers at load time (spacy.load and annotate's mapped loading), entities
keep their scores, the refusals (a GPU, a pipeline without a transformer, saving), and annotate's
resume, which never mixes fp32 and int8 parts in one output."""

import copy
from pathlib import Path

import pytest
import spacy
import srsly
import torch
from annotate import app
from annotate_helpers import initialised_pipeline, sample_test_texts
from script_helpers import load_script
from thinc.api import NumpyOps, get_current_ops, set_current_ops
from torch.ao.nn.quantized.dynamic import Linear as Int8Linear
from typer.testing import CliRunner

from multinerd.annotation.engine import MANIFEST
from multinerd.annotation.mapped_loading import load_for_annotation
from multinerd.loading import LoadError, Precision, load_pipeline
from multinerd.pipeline.precision import ON_GPU, gpu_problem, quantize, quantize_module

INT8 = {"nlp": {"after_pipeline_creation": {"precision": "int8"}}}


@pytest.fixture(scope="module")
def trf_model(tiny_bert, sample_corpus, tmp_path_factory) -> Path:
    overrides = {"components.transformer.model.name": str(tiny_bert)}
    return initialised_pipeline("trf.cfg", sample_corpus, tmp_path_factory.mktemp("trf") / "model", **overrides)


@pytest.fixture(scope="module")
def cnn_model(sample_corpus, tmp_path_factory) -> Path:
    return initialised_pipeline("cnn.cfg", sample_corpus, tmp_path_factory.mktemp("cnn") / "model")


def linear_types(nlp):
    module = nlp.get_pipe("transformer").model.transformer
    return [type(m) for m in module.modules() if isinstance(m, (torch.nn.Linear, Int8Linear))]


def test_int8_quantizes_the_linear_layers_at_load_and_entities_keep_their_scores(trf_model, sample_corpus):
    fp32, int8 = spacy.load(trf_model), spacy.load(trf_model, config=INT8)
    assert set(linear_types(fp32)) == {torch.nn.Linear}
    assert set(linear_types(int8)) == {Int8Linear} and len(linear_types(int8)) == len(linear_types(fp32))
    assert int8.config["nlp"]["after_pipeline_creation"]["precision"] == "int8"
    texts = sample_test_texts(sample_corpus)
    ents = [ent for doc in int8.pipe(texts) for ent in doc.ents]
    assert ents and all(0.0 <= ent._.score <= 1.0 for ent in ents)
    with pytest.raises(ValueError, match="can't be saved"):
        int8.to_disk(trf_model.parent / "saved")
    assert not (trf_model.parent / "saved").exists()


def test_a_linear_layer_with_outlier_inputs_stays_fp32(trf_model):
    """Outlier features (one channel far larger than the rest, on every text) planted in one FFN's
    hidden units: the layer reading them stays fp32, the others become int8, and that layer's
    block gives outputs over ten times closer to fp32's than with it int8 too."""
    fp32 = spacy.load(trf_model)
    module = fp32.get_pipe("transformer").model.transformer
    module.eval()  # no dropout: the outputs compared below must be deterministic
    intermediate, output = module.encoder.layer[0].intermediate.dense, module.encoder.layer[0].output.dense
    with torch.no_grad():  # unit 0 of layer 0's FFN: large on every token, its output weights scaled down;
        intermediate.bias[0] = 1000.0  # the other units' weights scaled up, so that the FFN matters
        output.weight[:, 0] /= 1000.0
        output.weight[:, 1:] *= 50.0
    tokens = fp32.get_pipe("transformer").model.tokenizer(["Angela Merkel besuchte Paris."], return_tensors="pt")
    with torch.no_grad():
        expected = module(**tokens, output_hidden_states=True).hidden_states[1]  # layer 0's output
    everything = copy.deepcopy(module)  # the same model with every linear layer int8, for comparison
    torch.ao.quantization.quantize_dynamic(
        everything,
        {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig},
        dtype=torch.qint8,
        inplace=True,
    )
    kept = quantize_module(module, fp32.get_pipe("transformer").model.tokenizer)
    assert kept == {"encoder.layer.0.output.dense"}
    assert type(module.encoder.layer[0].output.dense) is torch.nn.Linear
    assert set(linear_types(fp32)) == {torch.nn.Linear, Int8Linear}
    assert sum(t is Int8Linear for t in linear_types(fp32)) == len(linear_types(fp32)) - 1
    with torch.no_grad():
        errors = [
            (m(**tokens, output_hidden_states=True).hidden_states[1] - expected).abs().mean().item()
            for m in (module, everything)
        ]
    assert errors[0] < errors[1] / 10, errors


def test_the_shared_loader_quantizes_annotates_mapped_weights(trf_model):
    # large=1 KiB: the tiny BERT's weights are mapped, as a real model's are
    nlp = load_pipeline(
        str(trf_model), load=lambda m, config: load_for_annotation(m, 1024, config), precision=Precision.int8
    )
    assert set(linear_types(nlp)) == {Int8Linear}
    assert nlp.config["nlp"]["after_pipeline_creation"]["precision"] == "int8"


def test_int8_is_refused_on_a_gpu(trf_model):
    assert gpu_problem("cpu") is None
    assert gpu_problem("gpu") == gpu_problem("cuda") == ON_GPU  # thinc's ops' device_type, torch's device.type

    before = get_current_ops()
    set_current_ops(NumpyOps(device_type="gpu"))  # what spacy.prefer_gpu() sets: CupyOps, device_type "gpu"
    try:
        with pytest.raises(ValueError) as refused:
            spacy.load(trf_model, config=INT8)
    finally:
        set_current_ops(before)
    assert str(refused.value) == ON_GPU
    nlp = spacy.load(trf_model)
    nlp.get_pipe("transformer").model.transformer.to("meta")  # a device other than the CPU, as cuda is
    with pytest.raises(ValueError, match="on a CPU only"):
        quantize(nlp.get_pipe("transformer"))
    with pytest.raises(LoadError, match="on a CPU only"):
        load_pipeline(str(trf_model), gpu_id=0, precision=Precision.int8)


def run(*args):
    return CliRunner().invoke(app, [str(arg) for arg in args])


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    messages = [line for line in result.stderr.splitlines() if line.startswith("✘")]
    assert len(messages) == 1 and result.stderr.rstrip().endswith(messages[0]), result.stderr
    return messages[0]


def test_loading_the_cnn_pipeline_at_int8_says_it_does_not_apply(cnn_model):
    with pytest.raises(ValueError, match="int8 does not apply to this pipeline: it has no transformer"):
        spacy.load(cnn_model, config=INT8)
    assert spacy.load(cnn_model).config["nlp"]["after_pipeline_creation"]["precision"] == "fp32"


def test_int8_does_not_apply_to_a_pipeline_without_a_transformer(cnn_model, tmp_path):
    (tmp_path / "in.txt").write_text("Paris\n", "utf8")
    line = one_line_error(run(tmp_path / "in.txt", tmp_path / "out", "--model", cnn_model, "--precision", "int8"))
    assert "int8 does not apply" in line and "no transformer" in line
    assert not (tmp_path / "out").exists()


def part_files(output: Path):
    return {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in output.glob("part-*")}


def test_annotate_never_mixes_fp32_and_int8_parts(trf_model, sample_corpus, tmp_path):
    texts = tmp_path / "in.txt"
    texts.write_text("\n".join(sample_test_texts(sample_corpus)[:6]) + "\n", "utf8")
    output = tmp_path / "out"
    args = [texts, output, "--model", trf_model, "--block-size", 3, "--format", "jsonl"]
    assert run(*args, "--precision", "int8").exit_code == 0
    assert srsly.read_json(output / MANIFEST)["settings"]["precision"] == "int8"
    (output / "part-00001.jsonl").unlink()  # as an interrupted run leaves it
    before = part_files(output)
    line = one_line_error(run(*args))
    assert "int8" in line and "--precision int8" in line and "--overwrite" in line
    assert part_files(output) == before
    assert run(*args, "--precision", "int8").exit_code == 0  # the same precision resumes
    assert sorted(part_files(output)) == ["part-00000.jsonl", "part-00001.jsonl"]
    # An output from before the precision was recorded was annotated at fp32: fp32 resumes it.
    assert run(*args, "--overwrite").exit_code == 0
    manifest = srsly.read_json(output / MANIFEST)
    del manifest["settings"]["precision"]
    srsly.write_json(output / MANIFEST, manifest)
    assert run(*args).exit_code == 0
    assert "fp32 precision" in one_line_error(run(*args, "--precision", "int8"))


def test_evaluate_scores_int8_and_says_so(trf_model, sample_corpus, tmp_path):
    evaluate = load_script("evaluate").app
    out = tmp_path / "int8"
    result = CliRunner().invoke(
        evaluate, [str(trf_model), str(sample_corpus / "test"), str(out), "--precision", "int8"]
    )
    assert result.exit_code == 0, result.output
    scores = srsly.read_json(out / "seqeval.json")
    assert scores["precision"] == "int8" and scores["sentences"] > 0
    assert not (out / "scores.json").exists()  # spacy evaluate would load it at fp32
    assert "No scores.json at int8" in result.output
