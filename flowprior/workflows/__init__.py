"""Workflows over samplers and flows: repartitioning, two-stage sampling, importance sampling and
reweighting, nuisance-free likelihoods, marginal statistics."""
