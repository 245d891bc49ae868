"""What people prove themselves with (issued codes, OTP cards). The models arrive with their issues."""
