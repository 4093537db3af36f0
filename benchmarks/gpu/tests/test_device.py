"""What the device run carries and checks first: the carried pins agree with the product's own,
and the stack check fails, on one line, naming what is off."""

import subprocess
import sys
from importlib.metadata import version

from conftest import PROJECT, REPO
from wheels import read_list


def test_carried_pins_are_the_products():
    carried = {**read_list(PROJECT / "wheels.txt", pinned=True), **read_list(PROJECT / "wheels-built.txt", pinned=True)}
    product = {}
    for line in (REPO / "requirements.txt").read_text(encoding="utf8").splitlines():
        name, _, pin = line.split("#", 1)[0].strip().partition("==")
        if pin:
            product[name.lower()] = pin
    shared = set(carried) & set(product)
    assert {"spacy", "spacy-transformers", "transformers", "tokenizers", "seqeval"} <= shared
    assert {name: carried[name] for name in shared} == {name: product[name] for name in shared}


def test_stack_check_names_a_wrong_version(tmp_path):
    pins = tmp_path / "pins.txt"
    pins.write_text(f"spacy=={version('spacy')}\nthinc==0.0.1\n")
    done = subprocess.run([sys.executable, str(PROJECT / "scripts" / "stack.py"), "--gpu-id", "-1", "--wheel-list",
                           str(pins)], capture_output=True, text=True, timeout=300)  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1
    assert "thinc" in lines[0] and "0.0.1" in lines[0] and "spacy project run wheels" in lines[0]
    assert "spacy " not in lines[0].split("thinc")[0]  # the right pin is not reported
    pins.write_text(f"spacy=={version('spacy')}\n")
    done = subprocess.run([sys.executable, str(PROJECT / "scripts" / "stack.py"), "--gpu-id", "-1", "--wheel-list",
                           str(pins)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"spacy"' in done.stdout
