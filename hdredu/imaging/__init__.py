"""Image formation: the camera model (exposure, response, noise, quantisation) and tone mapping."""
