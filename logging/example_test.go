package logging_test

import (
	"log/slog"
	"os"

	"github.com/kestrel-go/kestrel/logging"
)

// A logger writing ASP.NET Core's console format. The server's own events
// carry their category and event id; an application's records get theirs
// from Logger.With.
func Example() {
	log := slog.New(logging.NewConsoleHandler(os.Stdout, &logging.Options{Category: "MyApp"}))
	log.Info("Now listening on: http://localhost:5000",
		logging.Category("Microsoft.Hosting.Lifetime"), logging.EventID(14),
		slog.String(logging.EventNameKey, "ListeningOnAddress"))

	orders := log.With(logging.Category("MyApp.Orders"))
	orders.Warn("payment declined", "order", 1234, "reason", "card expired")
	log.Error("unexpected")
	// Output:
	// info: Microsoft.Hosting.Lifetime[14]
	//       Now listening on: http://localhost:5000
	// warn: MyApp.Orders[0]
	//       payment declined order=1234 reason="card expired"
	// fail: MyApp[0]
	//       unexpected
}

// One JSON object per line, for a container's log collector.
func ExampleNewJSONHandler() {
	log := slog.New(logging.NewJSONHandler(os.Stdout, nil))
	log.Warn("disk almost full", logging.Category("MyApp.Storage"), "free_bytes", 1<<30)
	// Output:
	// {"EventId":0,"LogLevel":"Warning","Category":"MyApp.Storage","Message":"disk almost full","State":{"free_bytes":1073741824}}
}

// Go-style lines, the server's default output when no logger is set: the
// event's name, id and category as attributes after its values, and an
// exception (a panic's stack) on lines of its own.
func ExampleNewTextHandler() {
	log := slog.New(logging.NewTextHandler(os.Stdout, nil))
	log.Info("Now listening on: http://localhost:5000",
		logging.Category("Microsoft.Hosting.Lifetime"), logging.EventID(14),
		slog.String(logging.EventNameKey, "ServerListeningOnAddresses"))
	log.Error("handler failed", "path", "/orders",
		slog.String(logging.ExceptionKey, "panic: boom\ngoroutine 7 [running]:\nmain.handler()"))
	// Output:
	// INFO Now listening on: http://localhost:5000 EventName=ServerListeningOnAddresses EventId=14 Category=Microsoft.Hosting.Lifetime
	// ERROR handler failed path=/orders
	// 	panic: boom
	// 	goroutine 7 [running]:
	// 	main.handler()
}
