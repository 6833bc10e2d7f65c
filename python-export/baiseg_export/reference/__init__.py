"""Reference implementations (numpy/scipy/OpenCV) used to check the Rust runtime."""
