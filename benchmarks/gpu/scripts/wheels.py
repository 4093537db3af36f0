"""The wheels the GPU machine needs, ready to carry there: it is a Python 3.12 machine that
reaches nothing, so the packages it lacks travel with the working tree (at most 64 MiB, all of
it) as one archive that scripts/device.sh installs with pip.

    python scripts/wheels.py wheels.txt wheels --built wheels-built.txt --device-packages device-packages.txt

downloads WHEEL_LIST's pins as cp312 manylinux x86_64 wheels (pip download --only-binary=:all:
--no-deps), builds the wheels of BUILT's pins (pure-Python packages published only as source)
and the project's own (its package and the entry points the configs name), checks that every requirement of every wheel is met by a carried wheel or by the
machine's own packages (DEVICE_PACKAGES), and packs them into OUTPUT/device-wheels.tar.xz: the
wheels stored uncompressed inside, then xz over all, which makes them about half their
downloaded size (the wheels' own deflate leaves their compiled code to xz).
"""

import email.parser
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import typer
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from multinerd.cli import fail

REPO = Path(__file__).resolve().parents[3]
ARCHIVE = "device-wheels.tar.xz"
PYTHON_VERSION = "3.12"  # the GPU machine's; another (3.11) makes an archive to try scripts/device.sh here
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64")  # fmt: skip
# The machine the wheels are for, as requirement markers see it.
DEVICE_MARKERS = {"python_version": PYTHON_VERSION, "python_full_version": f"{PYTHON_VERSION}.3", "sys_platform": "linux",
                  "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
                  "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}  # fmt: skip
CARRY_LIMIT_MB = 64  # what may travel to the GPU machine, the working tree included

app = typer.Typer(add_completion=False)


def read_list(path: Path, pinned: bool) -> Dict[str, Optional[str]]:
    """Package names (canonical) -> version, from a list of `name==version` or (not `pinned`)
    bare `name` lines; `#` comments and blank lines skipped. Raises ValueError on a bad line."""
    found: Dict[str, Optional[str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf8").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        name, _, version = text.partition("==")
        if (pinned and not version) or not name.strip() or canonicalize_name(name) in found:
            what = "a `name==version` pin" if pinned else "a package name, or `name==version`"
            raise ValueError(f"{path}:{number}: {line.strip()!r} is not {what}, once a name")
        found[canonicalize_name(name)] = version.strip() or None
    return found


def wheel_requirements(wheel: Path) -> List[str]:
    """The Requires-Dist lines of a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(item for item in archive.namelist() if item.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(archive.read(name).decode("utf8"), headersonly=True)
    return metadata.get_all("Requires-Dist") or []


def unmet(
    wheels: Dict[str, Tuple[str, List[str]]], device: Dict[str, Optional[str]], python_version: str = PYTHON_VERSION
) -> List[str]:
    """What the wheels ({name: (version, Requires-Dist lines)}) need and neither they nor the
    machine's packages ({name: version or None}) give, one line each. A carried wheel shadows the
    machine's package of the same name (it comes first on the path); a machine package whose
    version isn't known is taken to satisfy."""
    markers = {**DEVICE_MARKERS, "python_version": python_version, "python_full_version": f"{python_version}.0"}
    problems = []
    for name, (version, requirements) in sorted(wheels.items()):
        for line in requirements:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate(markers):
                continue  # another Python, platform, or an extra
            needed = canonicalize_name(requirement.name)
            if needed in wheels:
                have, where = wheels[needed][0], "carried"
            elif needed in device:
                have, where = device[needed], "on the machine"
            else:
                problems.append(f"{name} {version} needs {line}: neither carried nor on the machine")
                continue
            if have is not None and not requirement.specifier.contains(Version(have), prereleases=True):
                problems.append(f"{name} {version} needs {line}, {where}: {needed} {have}")
    return problems


def download(pins: Dict[str, Optional[str]], folder: Path, python_version: str) -> None:
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--python-version", python_version, "--implementation", "cp", "--dest", str(folder)]  # fmt: skip
    command += [part for platform in PLATFORMS for part in ("--platform", platform)]
    subprocess.run(command + [f"{name}=={version}" for name, version in pins.items()], check=True)


def build_wheels(pins: Dict[str, Optional[str]], folder: Path) -> None:
    """Wheels of pure-Python packages published only as source, built here."""
    if pins:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(folder),
                        *(f"{name}=={version}" for name, version in pins.items())], check=True)  # fmt: skip


def build_project_wheel(folder: Path) -> None:
    """The project's own wheel (its package and the entry points the configs name), built from a
    copy of what pyproject.toml packages, so that the build leaves nothing in the working tree."""
    with tempfile.TemporaryDirectory() as copy:
        shutil.copy(REPO / "pyproject.toml", copy)
        for package in ("multinerd", "multinerd_dev"):
            shutil.copytree(REPO / "scripts" / package, Path(copy) / "scripts" / package,
                            ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(folder), copy],
                       check=True)  # fmt: skip


def pack(wheels: List[Path], archive: Path, preset: int = 6) -> None:
    """The wheels, each rewritten with its files stored uncompressed (same files, same RECORD),
    in one xz-compressed tar (`preset`: xz's level, 0-9)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:xz", preset=preset) as tar:
        for wheel in wheels:
            stored = io.BytesIO()
            with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as target:
                for item in source.infolist():
                    target.writestr(item, source.read(item), compress_type=zipfile.ZIP_STORED)
            info = tarfile.TarInfo(wheel.name)
            info.size = stored.tell()
            stored.seek(0)
            tar.addfile(info, stored)


@app.command()
def main(
    wheel_list: Path = typer.Argument(..., exists=True, dir_okay=False, help="The pins to carry (wheels.txt)"),
    output: Path = typer.Argument(..., help="Folder for the downloads and the archive (git-ignored)"),
    built: Path = typer.Option(..., exists=True, dir_okay=False, help="Pins built here from source"),
    device_packages: Path = typer.Option(..., exists=True, dir_okay=False, help="The machine's own packages"),
    python_version: str = typer.Option(PYTHON_VERSION, help="The wheels' Python (3.11: to try device.sh here)"),
    preset: int = typer.Option(6, min=0, max=9, help="xz level: 6 packs in minutes, 1 in seconds and larger"),
):
    try:
        pins, from_source = read_list(wheel_list, pinned=True), read_list(built, pinned=True)
        device = read_list(device_packages, pinned=False)
    except ValueError as err:
        fail(str(err))
    downloads = output / "download"
    if downloads.exists():
        for old in downloads.glob("*.whl"):
            old.unlink()
    downloads.mkdir(parents=True, exist_ok=True)
    download(pins, downloads, python_version)
    build_wheels(from_source, downloads)
    build_project_wheel(downloads)
    wheels = {}
    for path in sorted(downloads.glob("*.whl")):
        name, version, _, _ = parse_wheel_filename(path.name)
        if name in wheels:
            fail(f"{downloads}: two wheels of {name}; keep one version of each in {wheel_list}")
        wheels[name] = (str(version), wheel_requirements(path), path)
    missing = [f"{name}=={version}" for name, version in {**pins, **from_source}.items() if name not in wheels]
    problems = unmet({name: (version, needs) for name, (version, needs, _) in wheels.items()}, device, python_version)
    if missing or problems:
        fail(f"{wheel_list}: " + "; ".join([f"no wheel downloaded for {pin}" for pin in missing] + problems)
             + f". Add the missing pins to {wheel_list} (or the machine's package to {device_packages}).")  # fmt: skip
    archive = output / ARCHIVE
    pack([path for _, _, path in wheels.values()], archive, preset)
    size = archive.stat().st_size / 2**20
    print(f"{len(wheels)} wheels, every requirement met (carried or on the machine): {archive}, {size:.1f} MiB")
    if size > CARRY_LIMIT_MB - 4:
        fail(
            f"{archive} is {size:.1f} MiB: with the working tree it would not fit the {CARRY_LIMIT_MB} MiB that travel."
        )


if __name__ == "__main__":
    app()
