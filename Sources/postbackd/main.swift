print("postbackd 0.1.0")
