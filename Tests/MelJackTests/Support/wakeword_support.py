"""Helpers for WakeWordLiveTests (run with the project's .venv python).

  utterances OUT.f32 OUT.json
      Speaks each phrase with espeak-ng (voice en, 150 words per minute: the three wake words
      reach 0.95 or more whatever the framing phase, where en-us "hey mycroft" swings between
      0.36 and 0.91), resamples it to 48 kHz with soxr (HQ) and
      writes them one after another as raw float32 at 48 kHz, each with 0.5 s of silence before
      and 1.5 s after. OUT.json lists every segment: text, the model that should fire on it
      (or null), and its first and end sample in OUT.f32.

  frontend WAV NPY
      Runs pymicro-features (the reference frontend, 160 samples per call) on the 16-bit 16 kHz
      WAV and compares with meltap's features in NPY, value for value. Prints the counts and the
      first difference; exits 1 on any difference.
"""
import io
import json
import subprocess
import sys
import wave

import numpy as np

RATE = 48000
PHRASES = [
    ("okay nabu", "okay_nabu"),
    ("what time is it", None),
    ("alexa", "alexa"),
    ("turn on the kitchen lights", None),
    ("hey mycroft", "hey_mycroft"),
    ("good morning everyone", None),
    ("hey jarvis", None),  # espeak-ng's "hey jarvis" does not reach the model's cutoff: no claim either way
    ("play some music", None),
]


def speak(text, voice="en", speed=150):
    """`text` spoken by espeak-ng (`voice`, `speed` words a minute), resampled to RATE with soxr (HQ), at ±1."""
    import soxr
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
                         capture_output=True, check=True).stdout
    w = wave.open(io.BytesIO(wav))
    x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768
    return soxr.resample(x, w.getframerate(), RATE, quality="HQ")


def utterances(raw_path, json_path):
    parts, segments, position = [], [], 0
    for text, model in PHRASES:
        audio = np.concatenate([np.zeros(RATE // 2), speak(text), np.zeros(3 * RATE // 2)])
        segments.append(dict(text=text, model=model, start=position, end=position + len(audio)))
        parts.append(audio)
        position += len(audio)
    np.concatenate(parts).astype("<f4").tofile(raw_path)
    json.dump(dict(rate=RATE, segments=segments), open(json_path, "w"), indent=1)


def frontend(wav_path, npy_path):
    from pymicro_features import MicroFrontend
    w = wave.open(wav_path)
    assert w.getframerate() == 16000 and w.getsampwidth() == 2 and w.getnchannels() == 1, "need 16-bit 16 kHz mono"
    pcm = w.readframes(w.getnframes())
    fe, reference, i = MicroFrontend(), [], 0
    while i + 320 <= len(pcm):
        result = fe.process_samples(pcm[i:i + 320])
        i += result.samples_read * 2
        if result.features:
            reference.append(result.features)
    reference = np.array(reference, dtype=np.float64)
    meltap = np.load(npy_path).astype(np.float64)
    frames = min(len(reference), len(meltap))
    print(f"pymicro-features {reference.shape}, meltap {meltap.shape}")
    if abs(len(reference) - len(meltap)) > 0 or reference.shape[1:] != meltap.shape[1:]:
        print("frame counts or widths differ")
        return 1
    differ = np.argwhere(reference[:frames] != meltap[:frames])
    print(f"{differ.shape[0]} of {reference[:frames].size} values differ")
    if differ.shape[0]:
        t, c = differ[0]
        print(f"first difference: frame {t} channel {c}: pymicro-features {reference[t, c]}, meltap {meltap[t, c]}")
        return 1
    return 0


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    sys.exit({"utterances": utterances, "frontend": frontend}[command](*arguments) or 0)
