"""The benchmark's pure parts: the generated sentences' shape, the device-trace and cProfile
summaries, the step phases, the report's handling of a failed child, and the wheels' checks."""

import cProfile
import io
import math
import pstats
import statistics
import tarfile
import zipfile

import numpy
import pytest
from gpu_data import LOG_LENGTH_MEAN, LOG_LENGTH_SD, generate, sentence_lengths
from gpu_report import make_report
from profiling import bucket_of, busy_union, device_activity, host_profile
from recipe import read_sentences
from sides import Device, Phases
from wheels import pack, read_list, unmet


def test_lengths_follow_multinerds():
    lengths = sentence_lengths(20_000, numpy.random.default_rng(0))
    assert min(lengths) >= 1
    expected_median = math.exp(LOG_LENGTH_MEAN)
    assert abs(statistics.median(lengths) - expected_median) < 1.0
    assert abs(statistics.mean(lengths) - math.exp(LOG_LENGTH_MEAN + LOG_LENGTH_SD**2 / 2)) < 0.5


def test_generated_sentences_are_valid_rows_in_every_language(tmp_path):
    sentences, skipped = read_sentences(generate(tmp_path / "generated", 300, vocab_words=500, seed=1))
    assert len(sentences) == 300 and skipped == 0
    assert len({sentence.lang for sentence in sentences}) == 10
    assert any(tag != "O" for sentence in sentences for tag in sentence.tags)


def test_busy_time_is_the_union_of_intervals():
    assert busy_union([(0, 2), (1, 3), (5, 6)]) == 4
    assert busy_union([(5, 6), (0, 10)]) == 10
    assert busy_union([]) == 0


def test_device_activity_from_a_trace():
    events = [
        {"cat": "kernel", "name": "gemm", "ts": 0, "dur": 40},
        {"cat": "kernel", "name": "gelu", "ts": 30, "dur": 20},  # overlaps the gemm
        {"cat": "gpu_memcpy", "name": "Memcpy DtoH (Device -> Pageable)", "ts": 60, "dur": 10},
        {"cat": "gpu_memcpy", "name": "Memcpy HtoD (Pinned -> Device)", "ts": 80, "dur": 5},
        {"cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": 0, "dur": 90},  # the host's call, not device work
    ]
    activity = device_activity(events, wall_us=100, steps=2)
    assert activity["busy_share"] == pytest.approx((50 + 10 + 5) / 100)
    assert activity["kernels"]["count"] == 2 and activity["kernels"]["per_step"] == 1
    assert activity["copies_DtoH"] == {"ms": 0.01, "count": 1} and activity["copies_HtoD"]["count"] == 1


def test_host_profile_buckets_add_up():
    profiler = cProfile.Profile()
    profiler.enable()
    sorted(numpy.random.default_rng(0).random(1000).tolist())
    profiler.disable()
    profile = host_profile(pstats.Stats(profiler))
    assert math.isclose(sum(bucket["s"] for bucket in profile["buckets"].values()), profile["total_s"])
    assert profile["top_self"][0]["self_s"] >= profile["top_self"][-1]["self_s"]
    assert bucket_of("<method 'item' of 'torch._C.TensorBase' objects>") == "host-device copies and waits"
    assert bucket_of("/site/torch/nn/modules/linear.py:forward") == "transformer (torch)"
    assert bucket_of("spacy/pipeline/transition_parser.pyx:update") == "NER model and transitions"
    assert bucket_of("/site/spacy_alignments/__init__.py:get_alignments") == "tokenization and alignment"


def test_phases_time_only_the_timed_steps():
    phases = Phases(Device(-1), warmup=2, timed=3, traced=1, profiled=1)
    assert phases.steps == 7
    for done in range(1, phases.steps + 2):  # spaCy's extra last step included
        phases.after(done, lambda: 10 * done)
    result = phases.result
    assert result["words"] == 30 and result["timed_steps"] == 3 and result["seconds"] >= 0
    assert result["device"] is None and result["host"]["total_s"] >= 0  # no device on a CPU; the host profiled


def test_a_failed_child_leaves_its_figures_empty():
    settings = {"train_batch": 16, "infer_batches": [64], "traced_batch": 64, "matrix_parameters": 10,
                "peak_tflops": None, "matmul_tflops": 1.0, "pieces_per_word": {"train": 1.5, "test": 1.5},
                "test_words": 100}  # fmt: skip
    runs = {"hf_train": {"words_per_s": 100.0, "timed_steps": 10, "seconds": 2.0},
            "spacy_train": {"error": "Traceback ...\nRuntimeError: CUDA error"}}  # fmt: skip
    report = make_report(settings, runs, [])
    assert report["spacy"]["train"]["words_per_s"] is None and report["hf"]["train"]["steps_per_s"] == 5
    assert (
        report["ratios"]["train_words_per_s"] is None
        and report["targets"]["train_words_per_s_at_least_trainer"] is None
    )
    assert report["errors"] == {"spacy_train": runs["spacy_train"]["error"]}
    assert "n/a" in report["table"]


def test_wheel_lists(tmp_path):
    pins = tmp_path / "pins.txt"
    pins.write_text("# comment\nSpacy_Legacy==3.0.12  # why\n\nthinc==8.3.14\n")
    assert read_list(pins, pinned=True) == {"spacy-legacy": "3.0.12", "thinc": "8.3.14"}
    pins.write_text("thinc==8.3.14\nspacy\n")
    with pytest.raises(ValueError, match="pins.txt:2"):
        read_list(pins, pinned=True)
    pins.write_text("numpy==2.5.2\ntyper\n")
    assert read_list(pins, pinned=False) == {"numpy": "2.5.2", "typer": None}


def test_unmet_requirements():
    wheels = {
        "spacy": ("3.8.18", ["thinc<8.4.0,>=8.3.4", "numpy>=1.19.0", "typer<1.0,>=0.3", "colorama; sys_platform == 'win32'",
                             "pytest; extra == 'test'"]),
        "thinc": ("8.3.14", ["blis<1.4,>=1.3"]),
        "transformers": ("4.53.2", ["huggingface-hub<1.0,>=0.30.0", "tokenizers<0.22,>=0.21"]),
        "huggingface-hub": ("0.36.2", []),
    }  # fmt: skip
    device = {"numpy": "2.5.2", "typer": None, "huggingface-hub": "1.33.0", "tokenizers": "0.23.2"}
    problems = unmet(wheels, device)
    # blis is missing; the machine's tokenizers is too new; its huggingface-hub is shadowed by the carried one;
    # Windows' colorama and the test extra are not needed.
    assert len(problems) == 2
    assert "blis" in problems[0] and "neither carried nor on the machine" in problems[0]
    assert "tokenizers" in problems[1] and "0.23.2" in problems[1]


def test_packed_wheels_keep_their_files(tmp_path):
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("demo/__init__.py", "x = 1\n" * 100)
        archive.writestr("demo-1.0.dist-info/METADATA", "Name: demo\nVersion: 1.0\n")
    pack([wheel], tmp_path / "out" / "wheels.tar.xz")
    with tarfile.open(tmp_path / "out" / "wheels.tar.xz") as tar:
        data = tar.extractfile("demo-1.0-py3-none-any.whl").read()
    with zipfile.ZipFile(io.BytesIO(data)) as packed, zipfile.ZipFile(wheel) as original:
        assert packed.namelist() == original.namelist()
        assert all(packed.read(name) == original.read(name) for name in original.namelist())
        assert {item.compress_type for item in packed.infolist()} == {zipfile.ZIP_STORED}
