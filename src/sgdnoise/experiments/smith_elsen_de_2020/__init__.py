"""Smith, Elsen & De, "On the Generalization Benefit of Noise in Stochastic Gradient Descent", ICML 2020:
one module per figure or table, and the tuning protocol they share."""
