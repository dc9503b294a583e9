"""Jastrzębski et al., "Three Factors Influencing Minima in SGD": one module per figure or table, and the
set-up they share."""
