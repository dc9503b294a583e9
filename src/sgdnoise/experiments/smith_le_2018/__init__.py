"""Smith & Le, "A Bayesian Perspective on Generalization and Stochastic Gradient Descent", ICLR 2018:
one module per figure or appendix experiment."""
