"""Street lights and cameras in the admin."""
