// Package procgroup starts helper processes (Apache, Samba, Chromium) in a
// process group of their own and ends the whole group, so that nothing
// they started outlives the test or benchmark that started them.
package procgroup
