"""Flow-prior latency and training, side by side with TFP and margarine 1.4.2.

Setting (issue 2): d = 6, 5 MADEs of [50, 50], 10,000 weighted samples of a
correlated, non-Gaussian target.  Everything runs in this one process and is
printed as ratios; nothing here is asserted.

    pip install --no-deps margarine==1.4.2     # optional; skipped if absent
    python benchmarks/bench_maf.py [--epochs 100] [--repeat 2000]
"""

import argparse
import os
import time

# margarine 1.4.2 mixes tf.keras optimisers with TFP's tf_keras layers; it
# only runs with the legacy Keras.  Benchmark-only: flowprior needs nothing.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import flowprior as fp  # noqa: E402

D = 6


def target(n, seed):
    rng = np.random.default_rng(seed)
    cov = 0.5 * np.eye(D) + 0.5 * np.ones((D, D))
    x = rng.multivariate_normal(np.zeros(D), 0.1 * cov, size=n)
    x[:, 1] += 1.5 * x[:, 0] ** 2          # curved
    x[:, 3] = np.sinh(2 * x[:, 3]) / 2     # heavy-ish tail
    w = rng.uniform(0.1, 1.0, size=n)      # weights independent of position
    return x, w


def timeit(fn, repeat):
    fn()
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        best = min(best, (time.perf_counter() - t0) / repeat)
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--batch-size", default="1024")
    args = parser.parse_args()
    batch_size = None if args.batch_size == "none" else int(args.batch_size)

    theta, w = target(10_000, seed=1)
    test, _ = target(20_000, seed=2)
    lower, upper = np.full(D, -4.0), np.full(D, 6.0)
    prior = fp.UniformPrior(lower, upper)
    test = test[prior._in_support(test)]

    import tensorflow as tf
    import tensorflow_probability as tfp

    t0 = time.perf_counter()
    flow = fp.MAF.fit(theta, w, prior=prior, seed=0, hidden_layers=(50, 50), number_networks=5,
                      epochs=args.epochs, batch_size=batch_size)
    ours_train = time.perf_counter() - t0
    ours_nll = -np.mean(flow.log_prob(test))

    rows = []
    u1 = np.random.default_rng(3).random(D)
    th1 = flow.prior_transform(u1)
    t_ours_pt = timeit(lambda: flow.prior_transform(u1), args.repeat)
    t_ours_lp = timeit(lambda: flow.log_prob(th1), args.repeat)
    slow = flow.with_backend("numpy")
    t_np_pt = timeit(lambda: slow.prior_transform(u1), args.repeat)
    t_np_lp = timeit(lambda: slow.log_prob(th1), args.repeat)

    # The same trained network evaluated through TFP under tf.function.
    dist = flow.tfp_distribution()
    lo, width = tf.constant(lower), tf.constant(upper - lower)
    normal = tf.constant(0.5 * np.log(2 * np.pi), tf.float64)

    @tf.function
    def tfp_prior_transform(u):
        z = tf.math.ndtri(u)
        return lo + width * tfp.distributions.Normal(tf.constant(0.0, tf.float64), 1.0).cdf(dist.bijector.forward(z))

    @tf.function
    def tfp_log_prob(t):
        x = tf.math.ndtri((t - lo) / width)
        return dist.log_prob(x) + tf.reduce_sum(0.5 * x * x + normal, -1) - tf.reduce_sum(tf.math.log(width))

    u1t, th1t = tf.constant(u1[None]), tf.constant(th1[None])
    np.testing.assert_allclose(tfp_prior_transform(u1t).numpy()[0], th1, rtol=1e-9)
    np.testing.assert_allclose(tfp_log_prob(th1t).numpy()[0], flow.log_prob(th1), rtol=1e-9)
    t_tfp_pt = timeit(lambda: tfp_prior_transform(u1t).numpy(), args.repeat // 4)
    t_tfp_lp = timeit(lambda: tfp_log_prob(th1t).numpy(), args.repeat // 4)
    rows += [("prior_transform, 1 point", t_ours_pt, t_np_pt, t_tfp_pt),
             ("log_prob, 1 point", t_ours_lp, t_np_lp, t_tfp_lp)]

    marg = None
    try:
        from margarine.maf import MAF as MargarineMAF
    except ImportError as exc:
        print(f"margarine not importable ({exc}); its columns are skipped")
    else:
        t0 = time.perf_counter()
        m = MargarineMAF(theta, weights=w, number_networks=5, hidden_layers=[50, 50],
                         theta_min=lower.astype(np.float32), theta_max=upper.astype(np.float32))
        m.train(epochs=args.epochs, early_stop=True)
        marg_train = time.perf_counter() - t0
        marg_nll = -float(np.mean(m.log_prob(test.astype(np.float32)).numpy()))
        u32 = tf.constant(u1[None].astype(np.float32))
        th32 = tf.constant(th1[None].astype(np.float32))
        t_m_pt = timeit(lambda: m(u32).numpy(), args.repeat // 4)
        t_m_lp = timeit(lambda: m.log_prob(th32).numpy(), args.repeat // 4)
        marg = (marg_train, marg_nll, t_m_pt, t_m_lp)

    print(f"\nflowprior {fp.__version__}: d={D}, 5 MADEs of [50, 50], 10,000 weighted samples, "
          f"epoch budget {args.epochs}, batch_size={batch_size}")
    print("\nLatency per call (us), one point; ratio = other / flowprior (numba)")
    head = f"{'':26s}{'flowprior':>10s}{'numpy':>10s}{'TFP tf.fn':>11s}{'ratio':>8s}"
    if marg:
        head += f"{'margarine':>11s}{'ratio':>8s}"
    print(head)
    for i, (name, ours, numpy_, tfp_) in enumerate(rows):
        line = f"{name:26s}{ours * 1e6:10.1f}{numpy_ * 1e6:10.1f}{tfp_ * 1e6:11.1f}{tfp_ / ours:8.1f}"
        if marg:
            line += f"{marg[2 + i] * 1e6:11.1f}{marg[2 + i] / ours:8.1f}"
        print(line)
    print("\nTraining (same architecture and epoch budget, early stopping on)")
    print(f"  flowprior: {ours_train:7.1f} s, {flow.history['epochs_run']} epochs, held-out NLL {ours_nll:.4f}")
    if marg:
        print(f"  margarine: {marg[0]:7.1f} s, {len(m.loss_history)} epochs, held-out NLL {marg[1]:.4f}")
        print(f"  time ratio margarine/flowprior {marg[0] / ours_train:.2f}; "
              f"NLL difference margarine - flowprior {marg[1] - ours_nll:+.4f} nats")


if __name__ == "__main__":
    main()
