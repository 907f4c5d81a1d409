"""Training flows: the one place with TensorFlow (:mod:`flowprior.training._tfp`), imported only to train."""
