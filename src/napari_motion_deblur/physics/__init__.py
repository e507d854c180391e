"""Physics: linear-motion kernels, blur operators, inverse filters and synthetic data."""
