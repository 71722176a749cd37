"""Media: sniffing, probing, decoding, shot detection, scenes, segments and keyframes."""
