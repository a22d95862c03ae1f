package recorder

import (
	"os"
	"time"
)

// dirListings remembers the spool scanner's directory listings: the spool
// root, its app and stream folders change only when a run starts or goes,
// and a stat is one system call where a listing is four or five. Owned by
// the scanner (start, then scanLoop).
type dirListings struct {
	byDir map[string]dirListing
	seen  map[string]bool // listed in the current scan
}

type dirListing struct {
	mtime   time.Time
	entries []os.DirEntry
}

// settled is how old a directory's mtime must be before its listing is
// reused: filesystems stamp coarse times (ext4 a clock tick, FAT and some
// network filesystems two seconds), so a change within that grain of the
// last one leaves the mtime as it was; never one this much later.
const settled = 3 * time.Second

// read lists dir, or returns the last listing if dir has not changed
// since and that listing was taken once its mtime had settled.
func (l *dirListings) read(dir string) ([]os.DirEntry, error) {
	if l.byDir == nil {
		l.byDir, l.seen = map[string]dirListing{}, map[string]bool{}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		delete(l.byDir, dir)
		return nil, err
	}
	l.seen[dir] = true
	if c, ok := l.byDir[dir]; ok && c.mtime.Equal(fi.ModTime()) {
		return c.entries, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		delete(l.byDir, dir)
		return nil, err
	}
	if time.Since(fi.ModTime()) > settled {
		l.byDir[dir] = dirListing{mtime: fi.ModTime(), entries: entries}
	} else {
		delete(l.byDir, dir)
	}
	return entries, nil
}

// forgetUnseen drops the listings of directories the last scan did not
// list (gone, or no longer looked at), and starts the next scan.
func (l *dirListings) forgetUnseen() {
	for dir := range l.byDir {
		if !l.seen[dir] {
			delete(l.byDir, dir)
		}
	}
	clear(l.seen)
}
