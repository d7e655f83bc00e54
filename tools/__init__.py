"""Development tooling of the repository (not installed with ``acgan_lib``)."""
