"""flowprior.samplers.mpi without mpirun: a fake communicator stands in for each rank."""

import pytest

from flowprior.samplers.mpi import mpi_comm, on_root


class FakeComm:
    """One rank of a two-rank job whose broadcast delivers what rank 0 sent."""

    def __init__(self, rank, sent):
        self.rank, self.sent = rank, sent

    def Get_rank(self):
        return self.rank

    def bcast(self, obj, root=0):
        if self.rank == root:
            self.sent.append(obj)
            return obj
        return self.sent[-1]


def test_a_single_process_has_no_communicator():
    assert mpi_comm() is None


def test_on_root_without_a_communicator_just_does_the_work():
    assert on_root(lambda: 7, None) == 7


def test_on_root_works_once_and_every_rank_gets_rank_0s_result():
    sent, calls = [], []

    def work():
        calls.append(1)
        return [1.5, "flow"]

    assert on_root(work, FakeComm(0, sent)) == [1.5, "flow"]
    assert on_root(work, FakeComm(1, sent)) == [1.5, "flow"]
    assert len(calls) == 1


def test_an_error_on_rank_0_is_raised_on_every_rank_rather_than_leaving_them_waiting():
    sent = []

    def work():
        raise ValueError("training failed")

    for rank in (0, 1):
        with pytest.raises(ValueError, match="training failed"):
            on_root(work, FakeComm(rank, sent))
