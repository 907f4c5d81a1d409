"""Joint analysis of two experiments without sampling their nuisance parameters.

    python examples/joint_analysis.py [--nlive 400] [--n-flows 3] [--epochs 300]

Experiments A and B share two core parameters and each has three nuisance
parameters correlated with them (flowprior.problems.LinearGaussianPair, where
every evidence is analytic).  Each experiment is run on its own; a small
ensemble of flows learns each theta-marginal; the joint likelihood
log L_AB = log L_A + log L_B is then sampled over theta alone.  The joint
evidence comes with sampling, density-estimate and input errors, and is
compared with the truth.
"""

import argparse

import numpy as np

import flowprior as fp
from flowprior.problems import LinearGaussianPair


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nlive", type=int, default=400)
    parser.add_argument("--n-flows", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=300)
    args = parser.parse_args(argv)

    pair = LinearGaussianPair()
    options = {"epochs": args.epochs, "hidden_layers": (32, 32), "number_networks": 3}
    likes = {}
    for i, X in enumerate("AB"):
        run = fp.run(pair.loglikelihood(X), pair.prior[X], nlive=args.nlive, seed=i)
        likes[X] = fp.NuisanceFreeLikelihood.fit(run.samples, prior=pair.prior_core, params=pair.core,
                                                 n_flows=args.n_flows, seed=i, flow_options=options)
        st = fp.marginal_stats(likes[X].flows[0], prior=pair.prior_core, seed=i)
        print(f"experiment {X}: logZ {likes[X].logZ:.3f} +- {likes[X].logZerr:.3f} (truth {pair.logZ[X]:.3f}), "
              f"{run.ncall} calls; theta-marginal D_KL {st.D_KL:.3f} +- {st.D_KL_err:.3f}, "
              f"d_G {st.d_G:.2f} +- {st.d_G_err:.2f}")

    joint = fp.joint(likes["A"], likes["B"])
    res = fp.run(joint, pair.prior_core, nlive=args.nlive, seed=2)
    ev = joint.evidence(res)
    print(f"joint over {pair.core} only: logZ_AB {ev.logZ:.3f} +- {ev.logZerr:.3f} "
          f"(sampling {ev.sampling_err:.3f}, density {ev.density_err:.3f}, inputs {ev.inputs_err:.3f}); "
          f"truth {pair.logZ['AB']:.3f}; {res.ncall} calls")
    x = res.samples[pair.core].to_numpy()
    w = res.samples.get_weights()
    print("joint posterior mean", np.round(np.average(x, axis=0, weights=w), 3),
          "truth", np.round(pair.joint_mean, 3))
    return ev, pair


if __name__ == "__main__":
    main()
