"""The command line: train -> info -> sample -> plot on chains from a real run; clean errors."""

import numpy as np
import pytest

import flowprior as fp
from flowprior.cli import main


@pytest.fixture(scope="module")
def chains(tmp_path_factory):
    """Chains written by a real dynesty run, read back with anesthetic.read_chains."""
    root = tmp_path_factory.mktemp("chains") / "gauss"
    prior = fp.UniformPrior([-5, -5], [5, 5], params=["a", "b"])
    res = fp.run(lambda t: -0.5 * np.sum((t - 0.3) ** 2 / 0.1), prior, nlive=100, seed=0)
    res.samples.to_csv(f"{root}.csv")
    return str(root)


@pytest.mark.slow
def test_round_trip(chains, tmp_path, capsys):
    flow_path = tmp_path / "f.fpz"
    assert main(["train", chains, "--params", "b,a", "--bounds=-5:5,-5:5", "-o", str(flow_path),
                 "--epochs", "5", "--networks", "2", "--hidden", "8,8", "--seed", "0", "-q"]) == 0
    out = capsys.readouterr().out
    assert "held-out loss" in out and flow_path.exists()
    assert fp.load(flow_path).params == ("b", "a")

    assert main(["info", str(flow_path)]) == 0
    assert "MAF(ndims=2, params=['b', 'a']" in capsys.readouterr().out

    csv = tmp_path / "s.csv"
    assert main(["sample", str(flow_path), "-n", "50", "-o", str(csv), "--seed", "1"]) == 0
    data = np.loadtxt(csv, delimiter=",", skiprows=1)
    assert data.shape == (50, 2)
    assert csv.read_text().splitlines()[0] == "b,a"

    png = tmp_path / "fig.png"
    assert main(["plot", str(flow_path), "--chains", chains, "-o", str(png), "-n", "300"]) == 0
    for path in (png, tmp_path / "fig_loss.png"):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_without_bounds_warns_on_stderr(chains, tmp_path, capsys):
    assert main(["train", chains, "-o", str(tmp_path / "g.fpz"), "--epochs", "2", "--networks", "1",
                 "--hidden", "4", "-q"]) == 0
    assert "flowprior: warning: no base prior given" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["info", "missing.fpz"], "No such file"),
    (["train", "nowhere/chains", "-o", "x.fpz"], "expected chains at"),
    (["sample", "bad.fpz", "-o", "x.csv"], "expected a flowprior file"),
])
def test_errors_are_one_line_with_exit_code_2(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.fpz").write_text("not a flow")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("flowprior: error:") and message in err
    assert "\n" not in err and "Traceback" not in err


def test_unknown_parameter_is_a_clean_error(chains, tmp_path, capsys):
    assert main(["train", chains, "--params", "a,zz", "-o", str(tmp_path / "x.fpz"), "-q"]) == 2
    assert "got unknown ['zz']" in capsys.readouterr().err


def test_bad_bounds_are_a_clean_error(chains, tmp_path, capsys):
    assert main(["train", chains, "--params", "a,b", "--bounds", "0:1", "-o", str(tmp_path / "x.fpz")]) == 2
    assert "expected --bounds as lo:hi for each of 2 parameters" in capsys.readouterr().err


def test_non_numeric_bounds_are_a_clean_error(chains, tmp_path, capsys):
    assert main(["train", chains, "--params", "a,b", "--bounds", "0:x,0:1", "-o", str(tmp_path / "x.fpz")]) == 2
    assert "expected numbers in --bounds" in capsys.readouterr().err


def test_bounds_without_params_is_a_clean_error(chains, tmp_path, capsys):
    assert main(["train", chains, "--bounds", "0:1,0:1", "-o", str(tmp_path / "x.fpz")]) == 2
    assert "expected --params together with --bounds" in capsys.readouterr().err


@pytest.fixture(scope="module")
def marginal_files(tmp_path_factory):
    """Two KDE marginals on the same core prior, plus the prior itself, saved to files."""
    d = tmp_path_factory.mktemp("marginals")
    prior = fp.UniformPrior([-5, -5], [5, 5], params=["a", "b"])
    rng = np.random.default_rng(0)
    paths = {}
    for name, mean in (("A", [0.2, 0.1]), ("B", [0.0, 0.3])):
        x = rng.multivariate_normal(mean, 0.04 * np.eye(2), size=600)
        paths[name] = d / f"{name}.fpz"
        fp.KDE.fit(x, prior=prior).save(paths[name])
    paths["prior"] = d / "prior.fpz"
    fp.save(prior, paths["prior"])
    return paths


@pytest.mark.slow
def test_stats_prints_D_KL_and_d_G(marginal_files, capsys):
    assert main(["stats", str(marginal_files["A"]), "-n", "2000"]) == 0
    out = capsys.readouterr().out
    st = fp.marginal_stats(fp.load(marginal_files["A"]), nsamples=2000, seed=0)
    assert f"D_KL = {st.D_KL:.4f} +- {st.D_KL_err:.4f}" in out
    assert f"d_G  = {st.d_G:.4f} +- {st.d_G_err:.4f}" in out


@pytest.mark.slow
def test_stats_of_an_ensemble_includes_its_spread(marginal_files, capsys):
    members = f"{marginal_files['A']},{marginal_files['B']}"
    assert main(["stats", members, "-n", "1000"]) == 0
    out = capsys.readouterr().out
    st = fp.marginal_stats([fp.load(marginal_files["A"]), fp.load(marginal_files["B"])], nsamples=1000, seed=0)
    assert "and 1 more ensemble members" in out and f"D_KL = {st.D_KL:.4f} +- {st.D_KL_err:.4f}" in out
    assert "Monte Carlo errors only" not in out


def test_stats_against_a_saved_prior(marginal_files, capsys):
    assert main(["stats", str(marginal_files["A"]), "--prior", str(marginal_files["prior"]), "-n", "500"]) == 0
    assert f"against {marginal_files['prior']}" in capsys.readouterr().out


@pytest.mark.slow
def test_joint_prints_the_evidence_and_writes_samples(marginal_files, tmp_path, capsys):
    csv = tmp_path / "joint.csv"
    assert main(["joint", str(marginal_files["A"]), f"{marginal_files['B']},{marginal_files['B']}",
                 "--logZ", "-4.6", "-4.7", "--logZerr", "0.1", "0.1", "--nlive", "100", "-o", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "logZ_joint = " in out and "inputs 0.1414" in out
    data = np.loadtxt(csv, delimiter=",", skiprows=1)
    assert data.shape[1] == 3 and abs(data[:, 0].sum() - 1) < 1e-9


def test_joint_needs_one_logZ_per_flow(marginal_files, capsys):
    assert main(["joint", str(marginal_files["A"]), str(marginal_files["B"]), "--logZ", "-4.6"]) == 2
    assert capsys.readouterr().err.strip() == "flowprior: error: expected one --logZ per flow (2); got 1"


def test_joint_needs_one_logZerr_per_flow(marginal_files, capsys):
    assert main(["joint", str(marginal_files["A"]), "--logZ", "-4.6", "--logZerr", "0.1", "0.2"]) == 2
    assert capsys.readouterr().err.strip() == "flowprior: error: expected one --logZerr per flow (1); got 2"


def test_stats_with_a_missing_prior_file(marginal_files, tmp_path, capsys):
    assert main(["stats", str(marginal_files["A"]), "--prior", str(tmp_path / "missing.fpz")]) == 2
    assert "missing.fpz" in capsys.readouterr().err


# --- arguments and paths checked before any work ---------------------------------------------------
@pytest.fixture()
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr("flowprior.training.maf.train_maf", refuse)


@pytest.mark.parametrize("output, message", [("missing_dir/f.fpz", "expected -o in an existing directory"),
                                             (".", "expected -o to name a file; got the directory")])
def test_train_refuses_an_unwritable_output_before_training(chains, output, message, tmp_path, capsys, monkeypatch,
                                                            no_training):
    monkeypatch.chdir(tmp_path)
    assert main(["train", chains, "-o", output, "-q"]) == 2
    err = capsys.readouterr().err
    assert message in err and ".tmp" not in err and "Traceback" not in err


@pytest.mark.parametrize("command", [["sample", "F", "-o", "missing_dir/s.csv"], ["plot", "F", "-o", "missing_dir/p.png"],
                                     ["check", "-o", "missing_dir/c.fpz"]])
def test_other_commands_refuse_an_unwritable_output_first(command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(command) == 2
    assert "expected -o in an existing directory" in capsys.readouterr().err


def test_bounds_may_start_with_a_minus_sign_after_a_space(chains, tmp_path, capsys):
    path = tmp_path / "f.fpz"
    assert main(["train", chains, "--params", "a,b", "--bounds", "-5:5,-5:5", "-o", str(path), "--epochs", "2",
                 "--networks", "1", "--hidden", "4", "-q"]) == 0
    assert fp.load(path).prior.lower.tolist() == [-5.0, -5.0]


def test_bad_hidden_layers_are_a_clean_error_before_reading_chains(tmp_path, capsys, no_training):
    assert main(["train", "nowhere/chains", "-o", str(tmp_path / "f.fpz"), "--hidden", "50,x"]) == 2
    assert "expected --hidden as comma-separated layer widths" in capsys.readouterr().err


def test_bad_training_options_are_a_clean_error_before_reading_chains(tmp_path, capsys, no_training):
    assert main(["train", "nowhere/chains", "-o", str(tmp_path / "f.fpz"), "--networks", "0"]) == 2
    assert "expected number_networks an integer >= 1; got 0" in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"flowprior {fp.__version__}"


def test_info_and_plot_handle_a_flow_trained_without_a_validation_split(tmp_path, capsys):
    samples = np.random.default_rng(0).normal(size=(300, 2))
    flow = fp.MAF.fit(samples, prior=fp.UniformPrior([-5, -5], [5, 5]), seed=0, epochs=3, number_networks=1,
                      hidden_layers=(4,), validation_fraction=0)
    path = tmp_path / "f.fpz"
    flow.save(path)
    assert main(["info", str(path)]) == 0
    assert "no held-out split; final training loss" in capsys.readouterr().out
    assert main(["plot", str(path), "-o", str(tmp_path / "p.png"), "-n", "200"]) == 0


def test_a_directory_given_as_a_flow_is_a_clean_error(tmp_path, capsys):
    assert main(["info", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("flowprior: error:") and "Traceback" not in err
