"""Audio to text, locally (FunASR). Imports nothing else of tongban's."""
