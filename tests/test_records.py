"""The server's records (sqlite): what a search reads of them is kept between searches and read
again as soon as a video changes, so a search never admits a video that is no longer ready."""

from __future__ import annotations

from sceneline.pipelines.server.records import PENDING, READY, Records, VideoRow, new_id


def _video(records: Records, index_id: str, asset_id: str, status: str) -> VideoRow:
    row = VideoRow(id=new_id(), task_id=new_id(), index_id=index_id, status=status, filename=f"{asset_id}.mp4",
                   path=f"/media/{asset_id}.mp4", asset_id=asset_id, size=1)
    return records.add_video(row)


def test_searchable_videos_follow_every_change_of_a_video(tmp_path):
    records = Records(tmp_path)
    index = records.add_index("i", [{"model_name": "marengo3.0", "model_options": ["visual"]}], [])
    ready = _video(records, index.id, "a1", READY)
    pending = _video(records, index.id, "a2", PENDING)

    rows, every_asset = records.searchable(index.id)
    assert [r.id for r in rows] == [ready.id] and every_asset == {"a1", "a2"}
    records.add_search_page({"index_id": index.id}, 2)  # not a change of any video: read from memory
    assert records.searchable(index.id)[0] is rows

    records.update_video(pending.id, status=READY)
    assert {r.id for r in records.searchable(index.id)[0]} == {ready.id, pending.id}
    records.delete_video(ready.id)
    rows, every_asset = records.searchable(index.id)
    # A deleted video is never admitted, but its asset still counts as one the index held.
    assert [r.id for r in rows] == [pending.id] and every_asset == {"a1", "a2"}
    records.close()
