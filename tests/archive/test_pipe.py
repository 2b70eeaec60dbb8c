"""WriterPipe: a writer's output read as a stream, its result and its errors handed back."""
import pytest

from berth.archive.pipe import WriterPipe


def test_result_after_a_partial_read_and_errors_surface():
    def produce(out):
        for _ in range(64):
            out.write(b"x" * 65536)  # more than a pipe holds: the writer blocks until drained
        return "done"
    pipe = WriterPipe(produce)
    assert pipe.read(10) == b"x" * 10
    assert pipe.finish() == "done"

    def fail(out):
        out.write(b"partial")
        raise ValueError("writer broke")
    with pytest.raises(ValueError, match="writer broke"):
        with WriterPipe(fail) as stream:
            assert stream.read() == b"partial"


def test_abandon_stops_a_writer_that_nobody_reads():
    pipe = WriterPipe(lambda out: [out.write(b"y" * 65536) for _ in range(1000)])
    pipe.abandon()  # returns: the writer ends on a broken pipe instead of blocking forever
    with pytest.raises(ZeroDivisionError):
        with WriterPipe(lambda out: out.write(b"z")):
            1 / 0
