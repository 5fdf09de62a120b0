"""The two floors: the library never imports the experiments, installs light, and the
experiments' binaries work from anywhere after a plain (non-editable) install."""

import ast
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.binaries import ROOT

LIBRARY, EXPERIMENTS, TEXT = "tf_fixnorm", "fixnorm_experiments", "fixnorm_text"


def imported_packages(package):
    """{module path: top-level packages it imports} for every module of ``package``."""
    found = {}
    for path in sorted(pathlib.Path(ROOT, package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
        names |= {node.module for node in ast.walk(tree)
                  if isinstance(node, ast.ImportFrom) and node.module and not node.level}
        found[str(path.relative_to(ROOT))] = {name.split(".")[0] for name in names}
    return found


def test_imports_go_one_way():
    library = imported_packages(LIBRARY)
    assert len(library) > 10
    for path, packages in library.items():
        assert EXPERIMENTS not in packages, f"{path} imports the experiments"
    for path, packages in imported_packages(TEXT).items():
        assert not packages & {LIBRARY, EXPERIMENTS}, f"{path} imports {packages}"
    # The experiments are built on the library.
    assert any(LIBRARY in packages for packages in imported_packages(EXPERIMENTS).values())


HEAVY = ("keras_tuner", "absl", "matplotlib", "sklearn", "tensorflow_datasets", "keras_hub",
         "fixnorm_experiments", "optuna")


def test_importing_the_library_adds_none_of_the_experiments_dependencies():
    """`import tf_fixnorm` loads nothing beyond what Keras and its backend load.

    (Keras itself imports matplotlib and scikit-learn when they are installed,
    and TensorFlow imports absl.)
    """
    code = textwrap.dedent(f"""
        import sys
        import keras
        before = set(sys.modules)
        import tf_fixnorm
        added = {{name.split(".")[0] for name in set(sys.modules) - before}}
        print(sorted(added & set({HEAVY!r})))
        print(tf_fixnorm.FixNorm.__module__)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines()[-2:] == ["[]", "tf_fixnorm.optimizer"]


def test_the_library_works_without_the_experiments_dependencies():
    """With keras-tuner, matplotlib, scikit-learn, TFDS and keras-hub unimportable (a
    core-only install), FixNorm still analyzes, builds and trains a model."""
    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {HEAVY[:1] + HEAVY[2:]!r}:  # as if not installed
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        sys.meta_path.insert(0, Block())
        import keras, numpy as np
        import tf_fixnorm
        inputs = keras.Input((6, 6, 2))
        x = keras.layers.Conv2D(3, 3, use_bias=False)(inputs)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(x))
        model = keras.Model(inputs, keras.layers.Dense(2)(x))
        model.compile(tf_fixnorm.FixNorm(keras.optimizers.SGD(0.1), model, alpha=2.0),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(np.ones((4, 6, 6, 2)), np.array([0, 1, 0, 1]), verbose=0)
        print(tf_fixnorm.analyze(model).counts())
        for name in ("FixNormTuneOracle", "FixNormTuneSampler"):
            try:
                getattr(tf_fixnorm.tuning, name)
            except ImportError as error:
                print(error)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines()[-3:] == [
        "{'scale_invariant': 1, 'classifier': 1, 'other': 3}",
        "tf_fixnorm.tuning.FixNormTuneOracle needs keras-tuner: pip install 'tf_fixnorm[tune]'",
        "tf_fixnorm.tuning.FixNormTuneSampler needs Optuna: pip install 'tf_fixnorm[tune]'"]


def test_public_names_are_where_users_look():
    import tf_fixnorm.tuning

    assert tf_fixnorm.tuning.FixNormTuneOracle.__module__ == "tf_fixnorm.tuning.oracle"
    assert tf_fixnorm.tuning.FixNormTuneSampler.__module__ == "tf_fixnorm.tuning.sampler"
    assert tf_fixnorm.tuning.LineSearch.__module__ == "tf_fixnorm.tuning.search"
    assert tf_fixnorm.analysis.analyze is tf_fixnorm.analyze
    with pytest.raises(AttributeError):
        tf_fixnorm.tuning.NoSuchThing  # noqa: B018


def test_every_method_md_citation_points_into_the_repository():
    """Code comments cite docs/method.md sections that exist."""
    import re

    with open(os.path.join(ROOT, "docs", "method.md"), encoding="utf-8") as f:
        headings = {line.lstrip("#").strip() for line in f if line.startswith("#")}
    cited = set()
    for package in (LIBRARY, EXPERIMENTS, "benchmarks", "tests"):
        for path in pathlib.Path(ROOT, package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            old = "METHOD" + ".md"  # the first write-up, outside the repository
            assert old not in text, f"{path} cites {old}, which is not in the repository"
            cited |= set(re.findall(r'docs/method\.md, "([^"]+)"', " ".join(text.split())))
    assert cited, "no citation found"
    assert cited <= headings, f"cited sections missing from docs/method.md: {cited - headings}"


# --- a plain install, used as a user would --------------------------------------------------


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh virtual environment holding a non-editable install of this checkout.

    Its dependencies come from this environment (a .pth line), so nothing is
    downloaded; the package itself is a wheel built from a copy of the sources.
    """
    work = tmp_path_factory.mktemp("install")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "*.egg-info", "build", "dist", "__pycache__", "tune_out", "bench_out",
        "runs", ".pytest_cache"))
    wheels = work / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(wheels), str(source)], check=True,
                   capture_output=True, timeout=300)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"], check=True,
                             capture_output=True, text=True).stdout.strip()
    here = next(p for p in sys.path if p.endswith("site-packages") and os.path.isdir(p))
    pathlib.Path(purelib, "dependencies.pth").write_text(here + "\n")
    (wheel,) = wheels.glob("*.whl")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True,
                   timeout=300)
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    return venv, elsewhere


def run_script(installed, name, *flags, importtime=False):
    venv, elsewhere = installed
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    command = [str(venv / "bin" / name), *flags]
    if importtime:
        command = [str(venv / "bin" / "python"), "-X", "importtime", *command]
    return subprocess.run(command, cwd=elsewhere, env=environment, capture_output=True,
                          text=True, timeout=300)


def test_the_installed_package_is_the_wheel_not_this_checkout(installed):
    venv, elsewhere = installed
    out = subprocess.run([str(venv / "bin" / "python"), "-c",
                          "import tf_fixnorm, fixnorm_experiments; "
                          "print(tf_fixnorm.__file__); print(fixnorm_experiments.__file__)"],
                         cwd=elsewhere, capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert out.returncode == 0, out.stderr[-2000:]
    for line in out.stdout.split():
        assert line.startswith(str(venv)), line


@pytest.mark.parametrize("name, flags, expected", [
    ("fixnorm-train", ["--list"], ["digits_small_resnet", "cityscapes_deeplab_v3_40k",
                                    "coco_retinanet_90k", "segmentation", "detection"]),
    ("fixnorm-train", ["--help"], ["--recipe", "--model_dir", "--iterations"]),
    ("fixnorm-tune", ["--help"], ["--compare", "--seeds", "--alpha_start"]),
    ("fixnorm-analyze", ["--help"], ["--model", "--application", "--input_shape"]),
])
def test_help_and_list_answer_without_tensorflow(installed, name, flags, expected):
    result = run_script(installed, name, *flags)
    # absl's --help exits with 1, as every absl binary's does.
    assert result.returncode == (1 if flags == ["--help"] else 0), result.stderr[-2000:]
    for text in expected:
        assert text in result.stdout, (text, result.stdout[-2000:])
    assert result.stderr == ""  # no TensorFlow, CUDA or absl log lines
    timed = run_script(installed, name, *flags, importtime=True)
    modules = {line.split("|")[-1].strip().split(".")[0]
               for line in timed.stderr.splitlines() if line.startswith("import time:")}
    assert "absl" in modules  # the import timing did record the imports
    assert not modules & {"tensorflow", "keras", "keras_tuner", "matplotlib"}


def test_analyze_prints_the_role_table_of_a_saved_model(installed, tmp_path):
    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, use_bias=False, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(x), name="tiny")
    path = str(tmp_path / "tiny.keras")
    model.save(path)
    result = run_script(installed, "fixnorm-analyze", f"--model={path}")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {tuple(line.split()[:2]): line.split() for line in result.stdout.splitlines()}
    assert "scale_invariant" in rows[("conv", "kernel")]
    assert "classifier" in rows[("logits", "kernel")] and "other" in rows[("logits", "bias")]
    assert "1 scale-invariant, 1 classifier, 3 other (method: graph)" in result.stdout
    bad = run_script(installed, "fixnorm-analyze", f"--model={tmp_path / 'missing.keras'}")
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
    assert bad.returncode != 0 and errors == [f"error: --model {tmp_path / 'missing.keras'} "
                                              "is not a file"]


def test_a_binary_without_its_extra_says_which_to_install():
    code = textwrap.dedent("""
        import sys
        class Block:  # as in a core-only install: no absl
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "absl":
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        sys.meta_path.insert(0, Block())
        sys.argv = ["fixnorm-tune", "--help"]
        from fixnorm_experiments.cli import scripts
        scripts.tune()
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 1
    assert out.stderr.strip() == ("error: fixnorm-tune needs absl, from the experiments extra: "
                                  "pip install 'tf_fixnorm[experiments]'")
