print("postbackctl 0.1.0")
